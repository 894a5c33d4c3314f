/* airflow.c - placeholder until implemented. */
#include "airflow.h"
