/* auth.c - placeholder until implemented. */
#include "auth.h"
