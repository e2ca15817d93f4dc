! What tensor does torch_tensor_from_array make from a Fortran array?
!
! Usage: layout_probe SHAPE_MODEL.pt FLATTEN_MODEL.pt
!
! SHAPE_MODEL returns the shape of its input as a float32 vector, FLATTEN_MODEL
! returns its input flattened in PyTorch's index order (last index fastest). The
! program wraps a(2, 3), with a(i, j) = 10 * i + j, once with the default layout and
! once with layout = [2, 1], and prints what the model saw.
program layout_probe
  use, intrinsic :: iso_fortran_env, only : sp => real32
  use ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_model_load, &
                     torch_tensor_from_array, torch_model_forward, torch_delete
  implicit none

  character(len=4096) :: shape_file, flatten_file
  type(torch_model) :: shape_model, flatten_model
  real(sp), target :: a(2, 3)
  integer :: i, j

  call get_command_argument(1, shape_file)
  call get_command_argument(2, flatten_file)
  do j = 1, 3
    do i = 1, 2
      a(i, j) = real(10 * i + j, sp)
    end do
  end do

  call torch_model_load(shape_model, trim(shape_file), torch_kCPU)
  call torch_model_load(flatten_model, trim(flatten_file), torch_kCPU)
  call probe("default", .false.)
  call probe("layout_2_1", .true.)
  call torch_delete(shape_model)
  call torch_delete(flatten_model)

contains

  subroutine probe(label, reversed)
    character(len=*), intent(in) :: label
    logical, intent(in) :: reversed
    real(sp), target :: dims(2), values(6)
    type(torch_tensor) :: inputs(1), outputs(1)

    if (reversed) then
      call torch_tensor_from_array(inputs(1), a, [2, 1], torch_kCPU)
    else
      call torch_tensor_from_array(inputs(1), a, torch_kCPU)
    end if
    call torch_tensor_from_array(outputs(1), dims, torch_kCPU)
    call torch_model_forward(shape_model, inputs, outputs)
    call torch_delete(outputs)
    call torch_tensor_from_array(outputs(1), values, torch_kCPU)
    call torch_model_forward(flatten_model, inputs, outputs)
    call torch_delete(outputs)
    call torch_delete(inputs)
    write (*, '(a, "_shape=", 2(1x, i0))') label, nint(dims)
    write (*, '(a, "_values=", 6(1x, i0))') label, nint(values)
  end subroutine probe

end program layout_probe
