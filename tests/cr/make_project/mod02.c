/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 2u
#define MODULE_FN mod02
#include "gen.h"
