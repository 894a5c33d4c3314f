/* errors.c - placeholder until implemented. */
#include "errors.h"
