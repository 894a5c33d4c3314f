/* http.c - placeholder until implemented. */
#include "http.h"
