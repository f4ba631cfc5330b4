// Precompiled once for every lesson target (see cmake/Lesson.cmake): only heavy, stable headers.
#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compat.hpp"
