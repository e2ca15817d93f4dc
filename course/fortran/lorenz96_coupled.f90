! The one-scale Lorenz-96 model with a neural parameterisation, called through FTorch.
!
!   dX_k/dt = X_{k-1} (X_{k+1} - X_{k-2}) - X_k + F - U_k,   U = network(X)
!
! An ensemble of states x(member, k) is stepped with fourth-order Runge-Kutta. The
! network is called once per time step (on all members at once) and its coupling
! term is held fixed over the four stages, exactly as the Python one-scale model of
! the course does.
!
! Usage:
!   lorenz96_coupled MODEL X0 MEMBERS K STEPS DT FORCING OUT [EVERY]
!
!   MODEL    TorchScript file: states (MEMBERS, K) in, coupling terms (MEMBERS, K)
!            out, both in physical units (the scaling is inside the model)
!   X0       initial states: MEMBERS * K little-endian float64 values, member index
!            fastest (the memory order of the Fortran array x(MEMBERS, K))
!   OUT      written in the same layout: the initial states, then the states every
!            EVERY steps (default 1)
!
! FTorch's default layout keeps Fortran's indices, so x(m, k) is the tensor's
! element [m, k]: the network sees the batch of members along its first axis, as in
! Python.
program lorenz96_coupled
  use, intrinsic :: iso_fortran_env, only : sp => real32, dp => real64, error_unit
  use ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_model_load, &
                     torch_tensor_from_array, torch_model_forward, torch_delete
  implicit none

  character(len=4096) :: model_file, init_file, out_file
  integer :: n_members, n_k, n_steps, every, step, unit_in, unit_out
  real(dp) :: dt, forcing
  real(dp), allocatable :: x(:, :), u(:, :), k1(:, :), k2(:, :), k3(:, :), k4(:, :)
  real(sp), allocatable, target :: x_net(:, :), u_net(:, :)
  type(torch_model) :: model

  call read_arguments()
  allocate (x(n_members, n_k), u(n_members, n_k), k1(n_members, n_k), k2(n_members, n_k))
  allocate (k3(n_members, n_k), k4(n_members, n_k))
  allocate (x_net(n_members, n_k), u_net(n_members, n_k))

  open (newunit=unit_in, file=trim(init_file), access="stream", form="unformatted", &
        status="old", action="read")
  read (unit_in) x
  close (unit_in)

  call torch_model_load(model, trim(model_file), torch_kCPU)
  open (newunit=unit_out, file=trim(out_file), access="stream", form="unformatted", &
        status="replace", action="write")
  write (unit_out) x
  do step = 1, n_steps
    call parameterise(x, u)
    k1 = tendency(x, u)
    k2 = tendency(x + 0.5_dp * dt * k1, u)
    k3 = tendency(x + 0.5_dp * dt * k2, u)
    k4 = tendency(x + dt * k3, u)
    x = x + dt / 6.0_dp * (k1 + 2.0_dp * k2 + 2.0_dp * k3 + k4)
    if (mod(step, every) == 0) write (unit_out) x
  end do
  close (unit_out)
  call torch_delete(model)

contains

  subroutine read_arguments()
    character(len=4096) :: text
    if (command_argument_count() < 8) then
      write (error_unit, '(a)') "usage: lorenz96_coupled MODEL X0 MEMBERS K STEPS DT FORCING OUT [EVERY]"
      stop 2
    end if
    call get_command_argument(1, model_file)
    call get_command_argument(2, init_file)
    call get_command_argument(3, text)
    read (text, *) n_members
    call get_command_argument(4, text)
    read (text, *) n_k
    call get_command_argument(5, text)
    read (text, *) n_steps
    call get_command_argument(6, text)
    read (text, *) dt
    call get_command_argument(7, text)
    read (text, *) forcing
    call get_command_argument(8, out_file)
    every = 1
    if (command_argument_count() >= 9) then
      call get_command_argument(9, text)
      read (text, *) every
    end if
    if (n_members < 1 .or. n_k < 4 .or. n_steps < 0 .or. every < 1 .or. dt <= 0.0_dp) then
      write (error_unit, '(a)') "need MEMBERS >= 1, K >= 4, STEPS >= 0, EVERY >= 1 and DT > 0"
      stop 2
    end if
  end subroutine read_arguments

  ! The network's coupling term for every member, in physical units.
  subroutine parameterise(state, coupling)
    real(dp), intent(in) :: state(:, :)
    real(dp), intent(out) :: coupling(:, :)
    type(torch_tensor) :: inputs(1), outputs(1)

    x_net = real(state, sp)
    call torch_tensor_from_array(inputs(1), x_net, torch_kCPU)
    call torch_tensor_from_array(outputs(1), u_net, torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    coupling = real(u_net, dp)
  end subroutine parameterise

  ! dX/dt on the periodic ring (the second index), with the coupling term held fixed.
  function tendency(state, coupling) result(rate)
    real(dp), intent(in) :: state(:, :), coupling(:, :)
    real(dp) :: rate(size(state, 1), size(state, 2))

    rate = cshift(state, -1, dim=2) * (cshift(state, 1, dim=2) - cshift(state, -2, dim=2)) &
           - state + forcing - coupling
  end function tendency

end program lorenz96_coupled
