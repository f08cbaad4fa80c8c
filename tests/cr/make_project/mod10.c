/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 10u
#define MODULE_FN mod10
#include "gen.h"
