/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 1u
#define MODULE_FN mod01
#include "gen.h"
