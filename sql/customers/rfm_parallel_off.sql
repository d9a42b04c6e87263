SELECT set_config('parallel_setup_cost', %(setup_cost)s, true),
    set_config('parallel_tuple_cost', %(tuple_cost)s, true)
