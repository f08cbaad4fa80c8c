/* one module of the make_build project: 1024 functions from gen.h */
#define MODULE_SEED 3u
#define MODULE_FN mod03
#include "gen.h"
