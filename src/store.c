/* store.c - placeholder until implemented. */
#include "store.h"
