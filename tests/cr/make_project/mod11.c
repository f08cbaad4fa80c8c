/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 11u
#define MODULE_FN mod11
#include "gen.h"
