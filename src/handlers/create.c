/* create.c */
#include "handlers.h"
