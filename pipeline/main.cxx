#include "cli.h"

int main(int argc, char** argv) { return ischia::RunCli(argc, argv); }
