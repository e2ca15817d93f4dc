! tiny_ftorch: the smallest Fortran binding to LibTorch that our tests need.
!
! It mirrors the names, argument order and call sequence of FTorch
! (https://github.com/Cambridge-ICCS/FTorch), which is what a real simulation
! code should use:
!
!   call torch_model_load(model, "model.torchscript.pt", torch_kCPU)
!   call torch_tensor_from_array(in_tensors(1), x, torch_kCPU [, permute_dims])
!   call torch_tensor_from_array(out_tensors(1), y, torch_kCPU [, permute_dims])
!   call torch_model_forward(model, in_tensors, out_tensors)
!   call torch_delete(model); call torch_delete(in_tensors); call torch_delete(out_tensors)
!
! Moving this code to FTorch means replacing `use tiny_ftorch` with `use ftorch`.
! Only float32 (real32) arrays of rank 1 to 4 on the CPU are supported here.
!
! Row-major versus column-major
! -----------------------------
! Fortran stores arrays column-major: in x(n1, n2) the FIRST index varies fastest
! in memory. PyTorch tensors are described by a shape plus strides (how many
! elements to skip per step along each dimension); a default (contiguous) tensor is
! row-major, its LAST index fastest. No copy is ever needed, only the right strides:
!
! * Without permute_dims (FTorch's default), the tensor has the Fortran array's
!   shape and column-major strides (1, n1, n1*n2, ...): element x(i, j) is
!   tensor[i-1, j-1]. The tensor is valid but not contiguous; the model sees the
!   same numbers a Python user would put in a tensor of shape (n1, n2).
! * With permute_dims, tensor dimension i is Fortran dimension permute_dims(i)
!   (like torch.permute, counting from 1). Declaring the array with its
!   dimensions reversed, x(n_features, n_batch), and passing permute_dims=[2, 1]
!   gives a tensor of shape (n_batch, n_features) with row-major strides: exactly
!   the memory layout of the C-order .bin files, so they can be read straight in.
!
! Older FTorch releases (and FTorch's torch_tensor_from_array_legacy) take a
! required `layout` argument instead, placed before the device. It never changes
! the shape, only the strides: layout=[1, 2] gives column-major strides (the
! default above), layout=[2, 1] row-major strides for the same shape, so the tensor
! reads the memory as a C array of that shape and tensor[i-1, j-1] is no longer
! x(i, j). That is right only when the memory already holds C-ordered data.
!
! As in FTorch, the arrays must have the TARGET attribute and stay alive (and not
! move) while tensors built from them exist: the tensors point at their memory.
module tiny_ftorch
  use, intrinsic :: iso_c_binding, only : c_ptr, c_null_ptr, c_int, c_int64_t, c_float, &
                                          c_char, c_null_char, c_loc, c_associated
  implicit none
  private

  public :: torch_model, torch_tensor, torch_kCPU
  public :: torch_model_load, torch_tensor_from_array, torch_model_forward, torch_delete

  !> The only device this binding supports.
  integer(c_int), parameter :: torch_kCPU = 0

  !> A loaded TorchScript model (an opaque C++ handle).
  type :: torch_model
    type(c_ptr) :: p = c_null_ptr
  end type torch_model

  !> A tensor viewing Fortran memory (an opaque C++ handle).
  type :: torch_tensor
    type(c_ptr) :: p = c_null_ptr
  end type torch_tensor

  interface torch_tensor_from_array
    module procedure tensor_from_array_r1, tensor_from_array_r2, &
                     tensor_from_array_r3, tensor_from_array_r4
  end interface torch_tensor_from_array

  interface torch_delete
    module procedure delete_model, delete_tensor, delete_tensors
  end interface torch_delete

  ! The C functions of ctorch_shim.cpp.
  interface
    function ptx_model_load(path) result(model) bind(c, name="ptx_model_load")
      import :: c_ptr, c_char
      character(kind=c_char), dimension(*), intent(in) :: path
      type(c_ptr) :: model
    end function ptx_model_load

    function ptx_tensor_from_blob(data, ndim, shape, strides) result(tensor) &
        bind(c, name="ptx_tensor_from_blob")
      import :: c_ptr, c_int, c_int64_t
      type(c_ptr), value :: data
      integer(c_int), value :: ndim
      integer(c_int64_t), dimension(*), intent(in) :: shape, strides
      type(c_ptr) :: tensor
    end function ptx_tensor_from_blob

    function ptx_model_forward(model, inputs, nin, output) result(status) &
        bind(c, name="ptx_model_forward")
      import :: c_ptr, c_int
      type(c_ptr), value :: model
      type(c_ptr), dimension(*), intent(in) :: inputs
      integer(c_int), value :: nin
      type(c_ptr), value :: output
      integer(c_int) :: status
    end function ptx_model_forward

    subroutine ptx_tensor_delete(tensor) bind(c, name="ptx_tensor_delete")
      import :: c_ptr
      type(c_ptr), value :: tensor
    end subroutine ptx_tensor_delete

    subroutine ptx_model_delete(model) bind(c, name="ptx_model_delete")
      import :: c_ptr
      type(c_ptr), value :: model
    end subroutine ptx_model_delete
  end interface

contains

  !> Load a TorchScript file; stops the program if it cannot be loaded.
  subroutine torch_model_load(model, filename, device_type)
    type(torch_model), intent(out) :: model
    character(len=*), intent(in) :: filename
    integer(c_int), intent(in) :: device_type

    call require_cpu(device_type)
    model%p = ptx_model_load(trim(filename) // c_null_char)
    if (.not. c_associated(model%p)) error stop "torch_model_load failed"
  end subroutine torch_model_load

  !> Run the model on the input tensors, writing the result into the output
  !> tensor (and so into the Fortran array behind it).
  subroutine torch_model_forward(model, input_tensors, output_tensors)
    type(torch_model), intent(in) :: model
    type(torch_tensor), dimension(:), intent(in) :: input_tensors
    type(torch_tensor), dimension(:), intent(in) :: output_tensors
    type(c_ptr), dimension(size(input_tensors)) :: handles
    integer :: i

    if (size(output_tensors) /= 1) error stop "tiny_ftorch: exactly one output tensor"
    do i = 1, size(input_tensors)
      handles(i) = input_tensors(i)%p
    end do
    if (ptx_model_forward(model%p, handles, int(size(handles), c_int), &
                          output_tensors(1)%p) /= 0) then
      error stop "torch_model_forward failed"
    end if
  end subroutine torch_model_forward

  ! Shape and strides of the tensor for a Fortran array of shape `fshape`.
  ! Fortran (column-major) strides: 1 for the first dimension, then the running
  ! product of the extents. permute_dims reorders dimensions (FTorch convention).
  subroutine make_tensor(tensor, data, fshape, permute_dims)
    type(torch_tensor), intent(out) :: tensor
    type(c_ptr), intent(in) :: data
    integer, dimension(:), intent(in) :: fshape
    integer, dimension(:), optional, intent(in) :: permute_dims
    integer(c_int64_t), dimension(size(fshape)) :: fstrides, tshape, tstrides
    logical, dimension(size(fshape)) :: seen
    integer :: i, n

    n = size(fshape)
    fstrides(1) = 1
    do i = 2, n
      fstrides(i) = fstrides(i - 1) * fshape(i - 1)
    end do
    if (present(permute_dims)) then
      if (size(permute_dims) /= n) error stop "permute_dims needs one entry per dimension"
      seen = .false.
      do i = 1, n
        if (permute_dims(i) < 1 .or. permute_dims(i) > n) error stop "permute_dims out of range"
        if (seen(permute_dims(i))) error stop "permute_dims repeats a dimension"
        seen(permute_dims(i)) = .true.
        tshape(i) = fshape(permute_dims(i))
        tstrides(i) = fstrides(permute_dims(i))
      end do
    else
      tshape = fshape
      tstrides = fstrides
    end if
    tensor%p = ptx_tensor_from_blob(data, int(n, c_int), tshape, tstrides)
    if (.not. c_associated(tensor%p)) error stop "torch_tensor_from_array failed"
  end subroutine make_tensor

  subroutine tensor_from_array_r1(tensor, data, device_type, permute_dims)
    type(torch_tensor), intent(out) :: tensor
    real(c_float), dimension(:), target, contiguous, intent(in) :: data
    integer(c_int), intent(in) :: device_type
    integer, dimension(1), optional, intent(in) :: permute_dims
    call require_cpu(device_type)
    call make_tensor(tensor, c_loc(data), shape(data), permute_dims)
  end subroutine tensor_from_array_r1

  subroutine tensor_from_array_r2(tensor, data, device_type, permute_dims)
    type(torch_tensor), intent(out) :: tensor
    real(c_float), dimension(:, :), target, contiguous, intent(in) :: data
    integer(c_int), intent(in) :: device_type
    integer, dimension(2), optional, intent(in) :: permute_dims
    call require_cpu(device_type)
    call make_tensor(tensor, c_loc(data), shape(data), permute_dims)
  end subroutine tensor_from_array_r2

  subroutine tensor_from_array_r3(tensor, data, device_type, permute_dims)
    type(torch_tensor), intent(out) :: tensor
    real(c_float), dimension(:, :, :), target, contiguous, intent(in) :: data
    integer(c_int), intent(in) :: device_type
    integer, dimension(3), optional, intent(in) :: permute_dims
    call require_cpu(device_type)
    call make_tensor(tensor, c_loc(data), shape(data), permute_dims)
  end subroutine tensor_from_array_r3

  subroutine tensor_from_array_r4(tensor, data, device_type, permute_dims)
    type(torch_tensor), intent(out) :: tensor
    real(c_float), dimension(:, :, :, :), target, contiguous, intent(in) :: data
    integer(c_int), intent(in) :: device_type
    integer, dimension(4), optional, intent(in) :: permute_dims
    call require_cpu(device_type)
    call make_tensor(tensor, c_loc(data), shape(data), permute_dims)
  end subroutine tensor_from_array_r4

  subroutine require_cpu(device_type)
    integer(c_int), intent(in) :: device_type
    if (device_type /= torch_kCPU) error stop "tiny_ftorch supports only torch_kCPU"
  end subroutine require_cpu

  subroutine delete_model(model)
    type(torch_model), intent(inout) :: model
    if (c_associated(model%p)) call ptx_model_delete(model%p)
    model%p = c_null_ptr
  end subroutine delete_model

  subroutine delete_tensor(tensor)
    type(torch_tensor), intent(inout) :: tensor
    if (c_associated(tensor%p)) call ptx_tensor_delete(tensor%p)
    tensor%p = c_null_ptr
  end subroutine delete_tensor

  subroutine delete_tensors(tensors)
    type(torch_tensor), dimension(:), intent(inout) :: tensors
    integer :: i
    do i = 1, size(tensors)
      call delete_tensor(tensors(i))
    end do
  end subroutine delete_tensors

end module tiny_ftorch
