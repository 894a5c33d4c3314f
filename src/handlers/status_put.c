/* status_put.c */
#include "handlers.h"
