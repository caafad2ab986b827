# cmake -DIN=file -DOUT=file.c -DSYM=name -P embed.cmake
# Writes `const unsigned char SYM_data[]` and `const size_t SYM_size`.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR size "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* generated from ${IN}; do not edit */\n#include <stddef.h>\n"
  "extern const unsigned char ${SYM}_data[];\nextern const size_t ${SYM}_size;\n"
  "const unsigned char ${SYM}_data[] = {\n${body}0x00};\n"
  "const size_t ${SYM}_size = ${size};\n")
