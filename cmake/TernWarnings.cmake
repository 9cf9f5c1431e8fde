# Warning and build-type flags shared by every target (STYLE.md section 12).
# _FILE_OFFSET_BITS=64: 64-bit off_t and inode numbers on 32-bit ARM too (a
# 32-bit readdir fails with EOVERFLOW on a file system with 64-bit inodes or
# directory hashes, and store files may pass 2 GiB). No effect on 64-bit.
add_compile_definitions(_GNU_SOURCE _FILE_OFFSET_BITS=64 TERN_VERSION="${PROJECT_VERSION}")
set(TERN_WARNINGS
  -Wall -Wextra -Werror -Wshadow -Wconversion -Wsign-conversion -Wstrict-prototypes
  -Wmissing-prototypes -Wformat=2 -Wvla -Wimplicit-fallthrough -Wundef -Wcast-align
  -Wnull-dereference)

set(CMAKE_C_FLAGS_DEBUG "-O0 -g")
set(CMAKE_C_FLAGS_RELEASE "-O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong")
set(CMAKE_C_FLAGS_ASAN
    "-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer")
set(CMAKE_EXE_LINKER_FLAGS_ASAN "-fsanitize=address,undefined")

function(tern_warnings target)
  target_compile_options(${target} PRIVATE ${TERN_WARNINGS})
endfunction()
