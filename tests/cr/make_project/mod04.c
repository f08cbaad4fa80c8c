/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 4u
#define MODULE_FN mod04
#include "gen.h"
