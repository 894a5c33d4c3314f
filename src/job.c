/* job.c - placeholder until implemented. */
#include "job.h"
