// The C ABI checks, compiled as C++: the generated header must work there too.
#include "abi_layout.c"
