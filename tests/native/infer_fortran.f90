! Run a TorchScript model exported by practicaltorch from Fortran, through the
! FTorch-style calls of tiny_ftorch, and compare with the output PyTorch computed.
!
! Usage:
!   infer_fortran MODEL.pt INPUT.bin EXPECTED.bin TOLERANCE NIN D1 .. DNIN NOUT E1 .. ENOUT
!
! D1 .. DNIN is the input shape and E1 .. ENOUT the output shape, both in PyTorch's
! order (batch first), as recorded in export.json. The input may have rank 2
! (batch, features) or rank 4 (batch, channels, height, width); the output rank 2.
! The .bin files hold raw little-endian float32 in row-major (C) order.
!
! The model runs twice, once for each way of handing Fortran arrays to Torch (see
! tiny_ftorch.f90 for the full story):
!
!   permuted      the array is declared with its dimensions reversed, x(features, batch),
!                 which is the C file's memory layout, and permute_dims reverses them
!                 back: the tensor is contiguous, shape (batch, features).
!   column-major  the array is declared in PyTorch's order, x(batch, features), filled
!                 with the same values, and passed as is: the tensor has that shape and
!                 column-major strides, so no copy and no transpose is needed.
!
! Both must match. Prints the max relative error of each (largest absolute
! difference over largest absolute expected value); exits 1 if either exceeds
! TOLERANCE.
program infer_fortran
  use, intrinsic :: iso_c_binding, only : c_float
  use tiny_ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_model_load, &
                          torch_tensor_from_array, torch_model_forward, torch_delete
  implicit none

  character(len=4096) :: model_file, input_file, expected_file, arg
  real :: tolerance
  integer :: in_rank, out_rank, position, i
  integer, allocatable :: in_dims(:), out_dims(:)
  real(c_float), allocatable :: in_buf(:), expected_buf(:)
  real(c_float) :: err_permuted, err_column_major
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

  ! 1. load the model (once, for both runs)
  call torch_model_load(model, model_file, torch_kCPU)

  select case (in_rank)
  case (2)
    call run_rank2()
  case (4)
    call run_rank4()
  case default
    write (*, '(a, i0)') "error: this program handles inputs of rank 2 or 4, not ", in_rank
    stop 2
  end select

  ! 4. delete the model (tensors were deleted after each forward)
  call torch_delete(model)

  write (*, '(a, es10.3)') "max_rel_error_permuted=", err_permuted
  write (*, '(a, es10.3)') "max_rel_error_column_major=", err_column_major
  write (*, '(a, es10.3)') "max_rel_error=", max(err_permuted, err_column_major)
  if (max(err_permuted, err_column_major) > tolerance) stop 1

contains

  subroutine run_rank2()
    real(c_float), allocatable, target :: x_rev(:, :), y_rev(:, :), x_pt(:, :), y_pt(:, :)
    type(torch_tensor), dimension(1) :: inputs, outputs

    ! Permuted: x_rev(features, batch) has exactly the memory of the C-order file.
    allocate (x_rev(in_dims(2), in_dims(1)), y_rev(out_dims(2), out_dims(1)))
    x_rev = reshape(in_buf, shape(x_rev))
    ! 2. tensors from arrays, 3. forward, 4. delete
    call torch_tensor_from_array(inputs(1), x_rev, torch_kCPU, permute_dims=[2, 1])
    call torch_tensor_from_array(outputs(1), y_rev, torch_kCPU, permute_dims=[2, 1])
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    err_permuted = rel_error(reshape(y_rev, [size(y_rev)]), expected_buf)

    ! Column-major: x_pt(batch, features), indexed as in PyTorch.
    allocate (x_pt(in_dims(1), in_dims(2)), y_pt(out_dims(1), out_dims(2)))
    x_pt = transpose(x_rev)
    call torch_tensor_from_array(inputs(1), x_pt, torch_kCPU)
    call torch_tensor_from_array(outputs(1), y_pt, torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    ! y_pt(i, j) is output[i-1, j-1]; transposing gives the C order of the file.
    err_column_major = rel_error(reshape(transpose(y_pt), [size(y_pt)]), expected_buf)
  end subroutine run_rank2

  subroutine run_rank4()
    real(c_float), allocatable, target :: x_rev(:, :, :, :), x_pt(:, :, :, :)
    real(c_float), allocatable, target :: y_rev(:, :), y_pt(:, :)
    type(torch_tensor), dimension(1) :: inputs, outputs

    ! Permuted: x_rev(width, height, channels, batch), the C file's memory layout.
    allocate (x_rev(in_dims(4), in_dims(3), in_dims(2), in_dims(1)))
    allocate (y_rev(out_dims(2), out_dims(1)))
    x_rev = reshape(in_buf, shape(x_rev))
    call torch_tensor_from_array(inputs(1), x_rev, torch_kCPU, permute_dims=[4, 3, 2, 1])
    call torch_tensor_from_array(outputs(1), y_rev, torch_kCPU, permute_dims=[2, 1])
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    err_permuted = rel_error(reshape(y_rev, [size(y_rev)]), expected_buf)

    ! Column-major: x_pt(batch, channels, height, width). reshape with order= fills
    ! the last index fastest, i.e. reads the buffer in C order.
    allocate (x_pt(in_dims(1), in_dims(2), in_dims(3), in_dims(4)))
    allocate (y_pt(out_dims(1), out_dims(2)))
    x_pt = reshape(in_buf, shape(x_pt), order=[4, 3, 2, 1])
    call torch_tensor_from_array(inputs(1), x_pt, torch_kCPU)
    call torch_tensor_from_array(outputs(1), y_pt, torch_kCPU)
    call torch_model_forward(model, inputs, outputs)
    call torch_delete(inputs)
    call torch_delete(outputs)
    err_column_major = rel_error(reshape(transpose(y_pt), [size(y_pt)]), expected_buf)
  end subroutine run_rank4

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

  ! Read n float32 values written by Python (raw, little-endian: the native order
  ! on x86-64 and arm64).
  function read_floats(path, n) result(values)
    character(len=*), intent(in) :: path
    integer, intent(in) :: n
    real(c_float), allocatable :: values(:)
    integer :: unit, status
    integer(kind=8) :: bytes

    open (newunit=unit, file=trim(path), access="stream", form="unformatted", &
          status="old", action="read", iostat=status)
    if (status /= 0) then
      write (*, '(a)') "error: cannot open " // trim(path)
      stop 2
    end if
    inquire (unit=unit, size=bytes)
    if (bytes /= 4_8 * n) then
      write (*, '(a, i0, a, i0, a)') "error: " // trim(path) // " holds ", bytes, &
          " bytes but the shape needs ", 4 * n, " (float32)"
      stop 2
    end if
    allocate (values(n))
    read (unit) values
    close (unit)
  end function read_floats

  real(c_float) function rel_error(got, expected) result(error)
    real(c_float), intent(in) :: got(:), expected(:)
    error = maxval(abs(got - expected)) / max(maxval(abs(expected)), tiny(1.0_c_float))
  end function rel_error

end program infer_fortran
