# Find the Debian-packaged dependencies and say clearly what is missing.
find_package(PkgConfig)
find_package(Threads REQUIRED)

set(TERN_MISSING "")

find_path(LMDB_INCLUDE_DIR lmdb.h)
find_library(LMDB_LIBRARY lmdb)
if(NOT LMDB_INCLUDE_DIR OR NOT LMDB_LIBRARY)
  list(APPEND TERN_MISSING "liblmdb-dev")
endif()

find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIBRARY mbedtls)
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT MBEDTLS_INCLUDE_DIR OR NOT MBEDTLS_LIBRARY OR NOT MBEDX509_LIBRARY
   OR NOT MBEDCRYPTO_LIBRARY)
  list(APPEND TERN_MISSING "libmbedtls-dev")
endif()

if(PKG_CONFIG_FOUND)
  pkg_check_modules(SERIALPORT libserialport)
endif()
if(NOT SERIALPORT_FOUND)
  list(APPEND TERN_MISSING "libserialport-dev")
endif()

if(TERN_TESTS)
  find_path(CMOCKA_INCLUDE_DIR cmocka.h)
  find_library(CMOCKA_LIBRARY cmocka)
  if(NOT CMOCKA_INCLUDE_DIR OR NOT CMOCKA_LIBRARY)
    list(APPEND TERN_MISSING "libcmocka-dev")
  endif()
endif()

if(TERN_MISSING)
  string(REPLACE ";" " " _pkgs "${TERN_MISSING}")
  message(FATAL_ERROR
    "Tern needs these Debian packages, which are not installed: ${_pkgs}\n"
    "Install them with: apt-get install ${_pkgs}\n"
    "(or run ./tern.sh test, which installs what is missing)")
endif()
