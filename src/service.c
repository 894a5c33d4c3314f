/* service.c - placeholder until implemented. */
#include "service.h"
