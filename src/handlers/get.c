/* get.c */
#include "handlers.h"
