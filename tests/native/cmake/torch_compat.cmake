# Included into every project() of a build through -DCMAKE_PROJECT_INCLUDE, so that
# FTorch (and programs that use it) build against the torch wheel installed with pip,
# without editing FTorch's sources.
#
# 1. A CUDA build of the torch wheel on a machine without the CUDA toolkit:
#    torch's CMake config looks for the toolkit unless a torch::cudart target
#    already exists, then stops with "Your installed Caffe2 version uses CUDA but I
#    cannot find the CUDA libraries". The wheel's libraries find their own CUDA
#    runtime at run time, and a CPU build of FTorch (the default, GPU_DEVICE=NONE)
#    needs no CUDA at build time, so an empty target is enough. A build with
#    -DGPU_DEVICE=CUDA is left alone: it needs the real toolkit.
# 2. torch >= 2.13 headers need C++20, while FTorch 1.1 asks for C++17. At the end
#    of the directory, C++ targets that ask for less than C++20 are raised to it.

if(NOT TARGET torch::cudart AND NOT GPU_DEVICE STREQUAL "CUDA")
  add_library(torch::cudart INTERFACE IMPORTED)
endif()

function(_practicaltorch_cxx20)
  get_property(_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_type ${_target} TYPE)
    if(_type STREQUAL "INTERFACE_LIBRARY")
      continue()
    endif()
    get_target_property(_standard ${_target} CXX_STANDARD)
    if(_standard AND _standard LESS 20)
      set_target_properties(${_target} PROPERTIES CXX_STANDARD 20)
    endif()
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" CALL _practicaltorch_cxx20)
