! Run a TorchScript model exported by practicaltorch through FTorch, and compare with
! the output PyTorch computed.
!
! Usage:
!   infer_fortran MODEL.pt INPUT.bin EXPECTED.bin TOLERANCE NIN D1 .. DNIN NOUT E1 .. ENOUT
!
! D1 .. DNIN is the input shape and E1 .. ENOUT the output shape, both in PyTorch's
! order (batch first), as recorded in export.json. The input may have rank 2
! (batch, features) or rank 4 (batch, channels, height, width); the output rank 2.
! The .bin files hold raw little-endian float32 in row-major (C) order.
!
! The model runs twice, once for each way of handing an array to FTorch 1.1:
!
!   by_index  the array is declared in PyTorch's order, x(batch, features), and
!             filled so that x(i, j) is element [i-1, j-1]; the default layout
!             makes a tensor of that shape that reads x by index.
!   c_memory  the array has the same shape but holds the file's bytes as they are
!             (C order), and layout = [2, 1] (or [4, 3, 2, 1]) tells FTorch that the
!             last index is the fastest in memory.
!
! Prints the max relative error of each (largest absolute difference over largest
! absolute expected value); exits 1 if either exceeds TOLERANCE.
program infer_fortran
  use, intrinsic :: iso_fortran_env, only : sp => real32, int64
  use ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_model_load, &
                     torch_tensor_from_array, torch_model_forward, torch_delete
  implicit none

  character(len=4096) :: model_file, input_file, expected_file, arg
  real :: tolerance
  integer :: in_rank, out_rank, position, i
  integer, allocatable :: in_dims(:), out_dims(:)
  real(sp), allocatable :: in_buf(:), expected_buf(:)
  real(sp) :: err_by_index, err_c_memory
  type(torch_model) :: model

  if (command_argument_count() < 8) then
    write (*, '(a)') "usage: infer_fortran MODEL INPUT.bin EXPECTED.bin TOLERANCE " // &
                     "NIN D1 .. DNIN NOUT E1 .. ENOUT"
    stop 2
  end if
  call get_command_argument(1, model_file)
  call get_command_argument(2, input_file)
  call get_command_argument(3, expected_file)
  call get_command_argument(4, arg)
  read (arg, *) tolerance
  position = 5
  in_rank = int_argument(position)
  allocate (in_dims(in_rank))
  do i = 1, in_rank
    in_dims(i) = int_argument(position)
  end do
  out_rank = int_argument(position)
  allocate (out_dims(out_rank))
  do i = 1, out_rank
    out_dims(i) = int_argument(position)
  end do
  if (out_rank /= 2) then
    write (*, '(a)') "error: this program handles outputs of rank 2 (batch, outputs)"
    stop 2
  end if

  in_buf = read_floats(input_file, product(in_dims))
  expected_buf = read_floats(expected_file, product(out_dims))

  call torch_model_load(model, trim(model_file), torch_kCPU)
  select case (in_rank)
  case (2)
    call run_rank2()
  case (4)
    call run_rank4()
  case default
    write (*, '(a, i0)') "error: this program handles inputs of rank 2 or 4, not ", in_rank
    stop 2
  end select
  call torch_delete(model)

  write (*, '(a, es10.3)') "max_rel_error_by_index=", err_by_index
  write (*, '(a, es10.3)') "max_rel_error_c_memory=", err_c_memory
  write (*, '(a, es10.3)') "max_rel_error=", max(err_by_index, err_c_memory)
  if (max(err_by_index, err_c_memory) > tolerance) stop 1

contains

  subroutine run_rank2()
    real(sp), allocatable, target :: x(:, :), y(:, :)

    allocate (x(in_dims(1), in_dims(2)), y(out_dims(1), out_dims(2)))
    ! by index: reshape with order = [2, 1] fills the last index fastest, as C does
    x = reshape(in_buf, shape(x), order=[2, 1])
    call forward2(x, y, [1, 2])
    err_by_index = rel_error(pack_c_order(y), expected_buf)
    ! C memory: the bytes as they are, and a layout saying so
    x = reshape(in_buf, shape(x))
    call forward2(x, y, [2, 1])
    err_c_memory = rel_error(reshape(y, [size(y)]), expected_buf)
  end subroutine run_rank2

  subroutine run_rank4()
    real(sp), allocatable, target :: x(:, :, :, :), y(:, :)
    type(torch_tensor) :: inputs(1), outputs(1)

    allocate (x(in_dims(1), in_dims(2), in_dims(3), in_dims(4)))
    allocate (y(out_dims(1), out_dims(2)))
    x = reshape(in_buf, shape(x), order=[4, 3, 2, 1])
    call torch_tensor_from_array(inputs(1), x, torch_kCPU)
    call torch_tensor_from_array(outputs(1), y, torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    err_by_index = rel_error(pack_c_order(y), expected_buf)

    x = reshape(in_buf, shape(x))
    call torch_tensor_from_array(inputs(1), x, [4, 3, 2, 1], torch_kCPU)
    call torch_tensor_from_array(outputs(1), y, [2, 1], torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    err_c_memory = rel_error(reshape(y, [size(y)]), expected_buf)
  end subroutine run_rank4

  subroutine forward2(x, y, layout)
    real(sp), intent(in), target, contiguous :: x(:, :)
    real(sp), intent(inout), target, contiguous :: y(:, :)
    integer, intent(in) :: layout(2)
    type(torch_tensor) :: inputs(1), outputs(1)

    call torch_tensor_from_array(inputs(1), x, layout, torch_kCPU)
    call torch_tensor_from_array(outputs(1), y, layout, torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
  end subroutine forward2

  ! The values of y(batch, outputs) in C order (last index fastest), like the file.
  function pack_c_order(y) result(flat)
    real(sp), intent(in) :: y(:, :)
    real(sp) :: flat(size(y))
    flat = reshape(transpose(y), [size(y)])
  end function pack_c_order

  integer function int_argument(position) result(value)
    integer, intent(inout) :: position
    character(len=64) :: text
    integer :: status
    call get_command_argument(position, text, status=status)
    if (status /= 0) then
      write (*, '(a, i0)') "error: missing command-line argument ", position
      stop 2
    end if
    read (text, *) value
    position = position + 1
  end function int_argument

  ! Read n float32 values written by Python (raw, little-endian: the native order on
  ! x86-64 and arm64).
  function read_floats(path, n) result(values)
    character(len=*), intent(in) :: path
    integer, intent(in) :: n
    real(sp), allocatable :: values(:)
    integer :: unit, status
    integer(int64) :: bytes

    open (newunit=unit, file=trim(path), access="stream", form="unformatted", &
          status="old", action="read", iostat=status)
    if (status /= 0) then
      write (*, '(a)') "error: cannot open " // trim(path)
      stop 2
    end if
    inquire (unit=unit, size=bytes)
    if (bytes /= 4_int64 * n) then
      write (*, '(a, i0, a, i0, a)') "error: " // trim(path) // " holds ", bytes, &
          " bytes but the shape needs ", 4 * n, " (float32)"
      stop 2
    end if
    allocate (values(n))
    read (unit) values
    close (unit)
  end function read_floats

  real(sp) function rel_error(got, expected) result(error)
    real(sp), intent(in) :: got(:), expected(:)
    error = maxval(abs(got - expected)) / max(maxval(abs(expected)), tiny(1.0_sp))
  end function rel_error

end program infer_fortran
