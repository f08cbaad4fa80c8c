/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 7u
#define MODULE_FN mod07
#include "gen.h"
