/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 5u
#define MODULE_FN mod05
#include "gen.h"
