/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 6u
#define MODULE_FN mod06
#include "gen.h"
