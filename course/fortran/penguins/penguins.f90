! Classify two penguins with the species network exported by `practicaltorch export`.
!
! Usage: penguins MODEL.torchscript.pt
!
! The exported model carries the scaling it was trained with, so it takes the
! measurements in millimetres and grams, in the order export.json lists them, and
! returns one score (a logit) per species.
program penguins
  use, intrinsic :: iso_fortran_env, only : sp => real32
  use ftorch, only : torch_model, torch_tensor, torch_kCPU, torch_delete, &
                     torch_model_load, torch_tensor_from_array, torch_model_forward
  implicit none

  integer, parameter :: n_birds = 2, n_features = 5, n_species = 3
  character(len=9), parameter :: species(n_species) = [character(len=9) :: &
                                 "Adelie", "Chinstrap", "Gentoo"]

  ! Declared in PyTorch's order, (birds, features): FTorch's default layout makes a
  ! tensor of shape (2, 5) whose element [i, j] is x(i+1, j+1). No transpose.
  real(sp), dimension(n_birds, n_features), target :: x
  real(sp), dimension(n_birds, n_species), target :: scores
  type(torch_model) :: model
  type(torch_tensor), dimension(1) :: inputs, outputs
  character(len=4096) :: model_file
  integer :: bird

  call get_command_argument(1, model_file)

  ! 1. Load the model once, at start-up.
  call torch_model_load(model, trim(model_file), torch_kCPU)

  ! 2. Wrap the arrays as tensors: they share memory, nothing is copied.
  call torch_tensor_from_array(inputs(1), x, torch_kCPU)
  call torch_tensor_from_array(outputs(1), scores, torch_kCPU)

  ! bill length (mm), bill depth (mm), flipper length (mm), body mass (g), male (1 or 0)
  x(1, :) = [39.1, 18.7, 181.0, 3750.0, 1.0]
  x(2, :) = [46.5, 14.8, 217.0, 5200.0, 0.0]

  ! 3. Run the network: it writes the scores into the array in place.
  call torch_model_forward(model, inputs, outputs)
  do bird = 1, n_birds
    write (*, '(a, i0, 3a, *(1x, es15.7))') "bird ", bird, ": ", &
      trim(species(maxloc(scores(bird, :), 1))), " scores", scores(bird, :)
  end do

  ! 4. Free the tensors and the model.
  call torch_delete(inputs)
  call torch_delete(outputs)
  call torch_delete(model)
end program penguins
