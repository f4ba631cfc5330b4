// Project 031: a durable job queue in PostgreSQL. Without arguments it runs the demo (a
// throwaway database, two worker processes); `031_task_queue --help` lists the subcommands
// (queue_program.cpp).
#include "queue_how_it_is_built.hpp"

int main(int argc, char** argv) { return lesson031::run_program(argc, argv); }
