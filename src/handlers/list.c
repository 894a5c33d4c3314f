/* list.c */
#include "handlers.h"
