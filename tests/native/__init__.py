"""Native (C++ and Fortran) programs that load exported models, and how to build them."""
