/* arena.c - placeholder until implemented. */
#include "arena.h"
