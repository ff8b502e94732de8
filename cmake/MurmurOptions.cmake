# Build options shared by every target.
include_guard(GLOBAL)
include(CheckLanguage)
include(CheckCXXCompilerFlag)

option(MURMUR_BUILD_TESTS "Build the GoogleTest suites" ON)
option(MURMUR_BUILD_BENCH "Build the Google Benchmark programs" ON)

# --- Components: "all" (the default) or "kernels" (kernels/, their tests and bench/aggregate;
# needs only a C++ compiler, CMake, the CUDA toolkit, a CPU BLAS, GoogleTest and Google
# Benchmark: what scripts/gpu-check.sh builds on a bare GPU box, see docs/gpu-check.md). ------
set(MURMUR_COMPONENTS all CACHE STRING "What to build: all, or kernels (kernels-only)")
set_property(CACHE MURMUR_COMPONENTS PROPERTY STRINGS all kernels)
if(NOT MURMUR_COMPONENTS MATCHES "^(all|kernels)$")
  message(FATAL_ERROR "MURMUR_COMPONENTS='${MURMUR_COMPONENTS}': use all or kernels")
endif()
set(MURMUR_KERNELS_ONLY OFF)
if(MURMUR_COMPONENTS STREQUAL "kernels")
  set(MURMUR_KERNELS_ONLY ON)
endif()

# --- CUDA: AUTO compiles the CUDA backend whenever nvcc is found. -------------
set(MURMUR_CUDA AUTO CACHE STRING "Build the CUDA backend: AUTO, ON or OFF")
set_property(CACHE MURMUR_CUDA PROPERTY STRINGS AUTO ON OFF)
set(MURMUR_HAVE_CUDA OFF)
if(NOT MURMUR_CUDA STREQUAL "OFF")
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    # CMake 3.25 predates nvcc's C++20 support: teach it the flag, then ask for C++20.
    if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_COMPILE_FEATURES cuda_std_20)
      list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_EXTENSIONS OFF)
    find_package(CUDAToolkit REQUIRED)
    set(MURMUR_HAVE_CUDA ON)
  elseif(MURMUR_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MURMUR_CUDA=ON but no CUDA compiler was found: install the CUDA "
                        "toolkit or set CMAKE_CUDA_COMPILER, or configure with -DMURMUR_CUDA=OFF")
  else()
    message(STATUS "No CUDA compiler found: building the CPU backend only")
  endif()
endif()

# --- CPU ISA for the kernels: explicit fma must be a hardware instruction. -----
# x86-64-v3 = AVX2 + FMA (Haswell and later). Results do not depend on it:
# fma is correctly rounded in hardware and in software alike.
if(NOT DEFINED MURMUR_CPU_ISA)
  set(_isa "")
  if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
    check_cxx_compiler_flag(-march=x86-64-v3 _has_v3)
    file(READ /proc/cpuinfo _cpuinfo LIMIT 65536)
    if(_has_v3 AND _cpuinfo MATCHES " avx2 " AND _cpuinfo MATCHES " fma ")
      set(_isa x86-64-v3)
    endif()
  endif()
  set(MURMUR_CPU_ISA "${_isa}" CACHE STRING "-march for CPU kernels (empty: compiler default)")
endif()

# --- ccache, when present, for C++ and CUDA alike. ----------------------------
find_program(MURMUR_CCACHE ccache)
if(MURMUR_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MURMUR_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MURMUR_CCACHE})
endif()

# --- Warnings as errors on our own code. --------------------------------------
add_library(murmur_warnings INTERFACE)
target_compile_options(murmur_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Werror>
  $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)

# Helper: a library or executable of ours gets the warnings (C++20 is set globally).
function(murmur_target name)
  target_link_libraries(${name} PRIVATE murmur_warnings)
endfunction()
