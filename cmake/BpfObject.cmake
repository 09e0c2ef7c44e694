# bpf_object(NAME SOURCE)
# Compiles SOURCE (bpf/NAME.bpf.c) with clang -target bpf and generates its
# libbpf skeleton. Defines an INTERFACE target NAME_skel whose include directory
# holds NAME.skel.h. Everything generated stays under the build tree.
find_program(BPF_CLANG NAMES clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture for BPF: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${BPF_GEN_DIR})

function(bpf_object name source)
  set(obj ${BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${BPF_GEN_DIR}/${name}.skel.h)
  file(GLOB bpf_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/lib/*.h ${CMAKE_SOURCE_DIR}/include/sightline/bpf/*.h)
  set(debug_flag)
  if(SIGHTLINE_BPF_DEBUG)
    set(debug_flag -DSIGHTLINE_BPF_DEBUG=1)
  endif()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_ARCH} ${debug_flag}
            -Wall -Werror -Wno-unused-function
            -I${CMAKE_SOURCE_DIR}/bpf/vmlinux/${BPF_ARCH} -I${CMAKE_SOURCE_DIR}/bpf
            -I${CMAKE_SOURCE_DIR}/include
            -c ${CMAKE_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${CMAKE_SOURCE_DIR}/${source} ${bpf_headers}
    COMMENT "BPF ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${BPF_GEN_DIR})
endfunction()
