/* trigger.c */
#include "handlers.h"
