/* routes.c - placeholder until implemented. */
#include "routes.h"
