# Rooms and their order (docs/ARCHITECTURE.md §4): each top-level folder is a room, and a target
# may link only targets of its own room or of a room on a lower level. Every target of ours
# belongs to the room its CMakeLists.txt stands in (its SOURCE_DIR's first folder), so a room
# needs no declaration beyond its line here. At the end of the configure step,
# murmur_check_rooms() walks every target's LINK_LIBRARIES and INTERFACE_LINK_LIBRARIES and
# fails the configure step on a link that goes up, naming both targets and both rooms. A new
# top-level folder with targets fails until it has a level below.
include_guard(GLOBAL)

# Level of each room, bottom up. Same level = siblings, which may not link each other either.
set(MURMUR_ROOM_LEVELS
    kernels=0 chain=0                     # arithmetic; keccak, secp256k1, ABI, RPC, outbox
    protocol=1 secagg=1 model=1 arena=1   # the wire; SecAgg+; MLP and validation; LLaMA + LoRA
    shard=1                               # sharded aggregation: c10d rendezvous, Gloo/NCCL collectives
    server=2 client=2                     # murmurd; libmurmur-client
    sim=3 python=3                        # the simulator (runs murmurd in process); Python
    cli=4                                 # the `murmur` command
    testing=5                             # murmur::testing: references and fixtures
    tests=6 bench=6)

# The room of a target: the first folder of its SOURCE_DIR under the project, or "" for a
# target that is not ours (imported, or made outside the source tree).
function(murmur_room_of target out)
  set(room "")
  if(TARGET ${target})
    get_target_property(aliased ${target} ALIASED_TARGET)
    if(aliased)
      set(target ${aliased})
    endif()
    get_target_property(imported ${target} IMPORTED)
    get_target_property(dir ${target} SOURCE_DIR)
    if(NOT imported AND dir)
      file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${dir})
      if(NOT rel MATCHES "^\\.\\./" AND NOT rel STREQUAL "")
        string(REGEX REPLACE "/.*" "" room "${rel}")
      endif()
    endif()
  endif()
  set(${out} "${room}" PARENT_SCOPE)
endfunction()

function(murmur_room_level room out)
  set(level "")
  foreach(entry IN LISTS MURMUR_ROOM_LEVELS)
    if(entry MATCHES "^${room}=([0-9]+)$")
      set(level ${CMAKE_MATCH_1})
    endif()
  endforeach()
  set(${out} "${level}" PARENT_SCOPE)
endfunction()

function(_murmur_targets_in dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _murmur_targets_in(${sub} more)
    list(APPEND targets ${more})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(murmur_check_rooms)
  _murmur_targets_in(${PROJECT_SOURCE_DIR} targets)
  set(errors "")
  foreach(target IN LISTS targets)
    murmur_room_of(${target} room)
    if(room STREQUAL "")
      continue()
    endif()
    murmur_room_level(${room} level)
    if(level STREQUAL "")
      string(APPEND errors "\n  ${target}: room '${room}' has no level in MURMUR_ROOM_LEVELS "
                           "(cmake/MurmurRooms.cmake)")
      continue()
    endif()
    get_target_property(type ${target} TYPE)
    set(links "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(links ${target} LINK_LIBRARIES)
    endif()
    get_target_property(interface ${target} INTERFACE_LINK_LIBRARIES)
    foreach(item IN LISTS links interface)
      # PRIVATE links of a static library appear as $<LINK_ONLY:x>; links made from another
      # directory carry ::@(id) markers.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" item "${item}")
      string(REGEX REPLACE "::@\\(.*\\)$" "" item "${item}")
      if(item STREQUAL "" OR item MATCHES "^::@" OR item MATCHES "[$<>]" OR NOT TARGET ${item})
        continue()
      endif()
      murmur_room_of(${item} to)
      if(to STREQUAL "" OR to STREQUAL room)
        continue()
      endif()
      murmur_room_level(${to} to_level)
      if(to_level STREQUAL "" OR NOT to_level LESS level)
        string(APPEND errors "\n  ${target} (room ${room}, level ${level}) links ${item} "
                             "(room ${to}, level ${to_level}): a dependency must go down")
      endif()
    endforeach()
  endforeach()
  if(errors)
    message(FATAL_ERROR "Dependencies between rooms (cmake/MurmurRooms.cmake, "
                        "docs/ARCHITECTURE.md §4):${errors}")
  endif()
endfunction()

# Run the check once everything is declared: at the end of the top-level CMakeLists.txt.
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL murmur_check_rooms)
