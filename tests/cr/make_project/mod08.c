/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 8u
#define MODULE_FN mod08
#include "gen.h"
