/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 12u
#define MODULE_FN mod12
#include "gen.h"
