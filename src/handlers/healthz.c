/* healthz.c */
#include "handlers.h"
