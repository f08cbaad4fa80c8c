/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 9u
#define MODULE_FN mod09
#include "gen.h"
