/* status_bulk.c */
#include "handlers.h"
