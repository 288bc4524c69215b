# Finds the libraries pgan builds against. Everything comes from Debian 12
# packages on CI; a trainer-only build takes LibTorch from a PyTorch wheel
# (-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')).

if(PGAN_WITH_TRAINER)
  find_package(Torch REQUIRED)
  # LibTorch's own flags (the C++11 ABI switch) must reach every target that
  # includes its headers.
  string(REPLACE " " ";" PGAN_TORCH_CXX_FLAGS "${TORCH_CXX_FLAGS}")
  add_library(pgan_torch INTERFACE)
  target_link_libraries(pgan_torch INTERFACE ${TORCH_LIBRARIES})
  target_include_directories(pgan_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  target_compile_options(pgan_torch INTERFACE ${PGAN_TORCH_CXX_FLAGS})
  # A LibTorch with CUDA (a PyTorch wheel's): the trainer reads the caching
  # allocator's GPU memory counters (c10_cuda) for the tick line.
  if(C10_CUDA_LIBRARY OR TARGET c10_cuda OR TARGET torch_cuda)
    target_compile_definitions(pgan_torch INTERFACE PGAN_TORCH_CUDA=1)
    message(STATUS "pgan: LibTorch has CUDA")
  endif()
endif()

find_package(absl REQUIRED)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(Threads REQUIRED)
# At the top, so that ZLIB::ZLIB is visible everywhere: common/ links it and
# so do tests/ (the trainer-only build with tests finds it nowhere else).
find_package(ZLIB REQUIRED)

# tcmalloc for the executables: glibc's malloc maps and unmaps every large
# tensor, and the page faults that follow cost more than half of a CPU
# training iteration here (see README, Speed). Optional.
option(PGAN_WITH_TCMALLOC "Link executables with tcmalloc when found" ON)
if(PGAN_WITH_TCMALLOC)
  find_library(TCMALLOC_LIBRARY NAMES tcmalloc_minimal tcmalloc)
endif()
# Links `target` with tcmalloc. Nothing calls it by name, so --as-needed
# would drop it: link this executable with --no-as-needed.
function(pgan_use_tcmalloc target)
  if(TCMALLOC_LIBRARY)
    target_link_options(${target} PRIVATE "LINKER:--no-as-needed")
    target_link_libraries(${target} PRIVATE ${TCMALLOC_LIBRARY})
  endif()
endfunction()
# CLI11 (command-line parsing), header-only.
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)

if(PGAN_WITH_SERVICES)
  find_package(Protobuf REQUIRED)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(GRPCPP REQUIRED IMPORTED_TARGET grpc++)
  find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
  # YAML job specs for `pgan submit`.
  find_package(yaml-cpp REQUIRED)
  # The worker's communication: MPI, Gloo and NCCL (not in a
  # coordinator-only build).
  if(PGAN_WITH_TRAINER)
    find_package(MPI REQUIRED COMPONENTS C)
    # Gloo: the CPU collective of gangs the coordinator forms (no mpirun).
    find_package(Gloo REQUIRED)
    # The NCCL backend of worker/ (no GPU needed to build it): the CUDA
    # runtime from find_package(CUDAToolkit), which looks in /usr/local/cuda
    # also when nvcc is not on PATH (-DCUDAToolkit_ROOT=... elsewhere), and
    # NCCL beside it or under -DNCCL_ROOT=....
    option(PGAN_WITH_NCCL "Build the NCCL backend when CUDA and NCCL are found" ON)
    set(PGAN_HAVE_NCCL OFF)
    set(_pgan_nccl_why "disabled (-DPGAN_WITH_NCCL=OFF)")
    if(PGAN_WITH_NCCL)
      find_package(CUDAToolkit QUIET)
      set(_pgan_nccl_why "the CUDA toolkit was not found (set CUDAToolkit_ROOT)")
      if(CUDAToolkit_FOUND)
        find_path(NCCL_INCLUDE_DIR nccl.h
          HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
                /usr/local/cuda
          PATH_SUFFIXES include)
        find_library(NCCL_LIBRARY nccl
          HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR}
                /usr/local/cuda
          PATH_SUFFIXES lib lib64)
        set(_pgan_nccl_why "NCCL was not found (set NCCL_ROOT)")
      endif()
      if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
        file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _pgan_nccl_version
             REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
        string(REGEX REPLACE "[^0-9;]" "" _pgan_nccl_version
               "${_pgan_nccl_version}")
        string(REPLACE ";" "." NCCL_VERSION "${_pgan_nccl_version}")
        if(NCCL_VERSION VERSION_LESS 2.14)
          set(_pgan_nccl_why "NCCL ${NCCL_VERSION} is older than 2.14")
        else()
          set(PGAN_HAVE_NCCL ON)
          add_library(NCCL::NCCL UNKNOWN IMPORTED)
          set_target_properties(NCCL::NCCL PROPERTIES
            IMPORTED_LOCATION "${NCCL_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
        endif()
      endif()
    endif()
    if(PGAN_HAVE_NCCL)
      message(STATUS "pgan: NCCL backend: built (CUDA ${CUDAToolkit_VERSION} "
                     "at ${CUDAToolkit_LIBRARY_DIR}, NCCL ${NCCL_VERSION} "
                     "${NCCL_LIBRARY})")
    else()
      message(STATUS "pgan: NCCL backend: NOT built: ${_pgan_nccl_why}")
    endif()
  endif()
  find_package(prometheus-cpp REQUIRED)
  # The embedded HTTP server of /metrics and the health endpoints (the one
  # prometheus-cpp's exposer uses).
  find_package(civetweb REQUIRED)
  find_package(SQLite3 REQUIRED)
endif()

if(PGAN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
