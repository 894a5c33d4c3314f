/* buf.c - placeholder until implemented. */
#include "buf.h"
