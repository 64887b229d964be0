#include "common/validation.h"
