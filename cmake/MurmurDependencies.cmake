# Third-party packages (Debian's -dev packages; scripts/setup.sh installs them).
include_guard(GLOBAL)
find_package(Threads REQUIRED)

set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_path(MURMUR_CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas openblas-pthread
          PATHS /usr/include/x86_64-linux-gnu REQUIRED)
add_library(murmur_blas INTERFACE)
target_link_libraries(murmur_blas INTERFACE ${BLAS_LIBRARIES})
target_include_directories(murmur_blas SYSTEM INTERFACE ${MURMUR_CBLAS_INCLUDE})

if(MURMUR_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(MURMUR_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

if(MURMUR_HAVE_CUDA)
  find_library(MURMUR_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
  find_path(MURMUR_NCCL_INCLUDE nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
  if(NOT MURMUR_NCCL_LIBRARY OR NOT MURMUR_NCCL_INCLUDE)
    message(FATAL_ERROR "CUDA found but NCCL is missing (libnccl.so / nccl.h): install NCCL "
                        "or configure with -DMURMUR_CUDA=OFF")
  endif()
endif()

# MURMUR_COMPONENTS=kernels needs nothing more: the packages below are never looked for.
if(MURMUR_KERNELS_ONLY)
  return()
endif()

find_package(PkgConfig REQUIRED)

find_package(CLI11 REQUIRED)

# libtorch (model/, client/) and zlib (model/'s IDX reader): found here, at the top, because
# torch's imported targets refer to one another by name and must be visible in every
# directory whose targets link a library that uses them (tests/, bench/, server/).
find_package(Torch REQUIRED)
find_package(ZLIB REQUIRED)

# chain/: secp256k1 (with the recovery module), Crypto++ (Keccak_256), libcurl, SQLite, JSON.
pkg_check_modules(MURMUR_SECP256K1 REQUIRED IMPORTED_TARGET libsecp256k1)
pkg_check_modules(MURMUR_CRYPTOPP REQUIRED IMPORTED_TARGET libcrypto++)
add_library(murmur_secp256k1 INTERFACE)
target_link_libraries(murmur_secp256k1 INTERFACE PkgConfig::MURMUR_SECP256K1)
add_library(murmur_cryptopp INTERFACE)
target_link_libraries(murmur_cryptopp INTERFACE PkgConfig::MURMUR_CRYPTOPP)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# protocol/ and server/: protobuf, ZeroMQ (CurveZMQ through libsodium), libsodium, TOML,
# logs, HTTP for metrics.
find_package(Protobuf REQUIRED)
# SHA-256 (OpenSSL, with the CPU's SHA instructions): bench/ingest prices the update hash against it.
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
pkg_check_modules(MURMUR_ZMQ REQUIRED IMPORTED_TARGET libzmq)
pkg_check_modules(MURMUR_SODIUM REQUIRED IMPORTED_TARGET libsodium)
add_library(murmur_zmq INTERFACE)
target_link_libraries(murmur_zmq INTERFACE PkgConfig::MURMUR_ZMQ)
add_library(murmur_sodium INTERFACE)
target_link_libraries(murmur_sodium INTERFACE PkgConfig::MURMUR_SODIUM)
find_package(tomlplusplus REQUIRED)
find_package(spdlog REQUIRED)
# Debian's cpp-httplib is a compiled library behind the header, built with OpenSSL, zlib and
# Brotli support: every file that includes <httplib.h> must see the same CPPHTTPLIB_* definitions
# (its pkg-config Cflags), or its httplib::Client has another layout than the library's and
# overruns its storage. So the header comes only with the target `murmur_httplib`, which carries
# them; ${MURMUR_HTTPLIB_LIBRARY} names that target.
find_path(MURMUR_HTTPLIB_INCLUDE httplib.h REQUIRED)
pkg_check_modules(MURMUR_HTTPLIB_PC REQUIRED IMPORTED_TARGET cpp-httplib)
add_library(murmur_httplib INTERFACE)
target_link_libraries(murmur_httplib INTERFACE PkgConfig::MURMUR_HTTPLIB_PC)
set(MURMUR_HTTPLIB_LIBRARY murmur_httplib)
