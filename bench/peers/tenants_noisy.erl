%% tenants_noisy on BEAM: the shape of ergon-bench tenants_noisy (bench/tenants.cpp) with BEAM's
%% own tool for it, process priorities. A probe sleeps 1 ms (receive after 1), Probes times,
%% and records how late it woke (erlang:monotonic_time); first alone, then beside Noise busy
%% processes at normal priority while the probe runs at high priority. The busy processes run
%% a tail-recursive LCG loop, preempted by reductions as any BEAM code.
%%
%%   erlc tenants_noisy.erl && erl -noshell +P 1000000 -run tenants_noisy main [scale]
%%   RESULT tenants_noisy erlang wall_ms=.. p99_alone_us=.. p99_noisy_us=.. noise=..
-module(tenants_noisy).
-export([main/1]).

main(Args) ->
    Scale = case Args of [S | _] -> parse(S); [] -> 1.0 end,
    Noise = max(1, round(10000 * Scale)),
    Probes = max(1, round(1000 * Scale)),
    Self = self(),
    spawn(fun() -> Self ! {done, run(Noise, Probes)} end),
    receive {done, Line} -> io:format("~s~n", [Line]) end,
    halt(0).

parse(S) ->
    try list_to_float(S) catch _:_ -> float(list_to_integer(S)) end.

run(Noise, Probes) ->
    T0 = erlang:monotonic_time(nanosecond),
    process_flag(priority, high),
    Alone = probe(Probes, normal),
    Stop = atomics:new(1, []),
    Pids = [spawn(fun() -> burn(Stop, 1) end) || _ <- lists:seq(1, Noise)],
    receive after 50 -> ok end,
    Noisy = probe(Probes, high),
    atomics:put(Stop, 1, 1),
    [begin Ref = monitor(process, P), receive {'DOWN', Ref, _, _, _} -> ok end end || P <- Pids],
    Wall = (erlang:monotonic_time(nanosecond) - T0) / 1.0e6,
    io_lib:format("RESULT tenants_noisy erlang wall_ms=~.3f p99_alone_us=~.3f p99_noisy_us=~.3f noise=~b",
                  [Wall, Alone, Noisy, Noise]).

burn(Stop, Acc) ->
    case atomics:get(Stop, 1) of
        1 -> ok;
        _ -> burn(Stop, lcg(24, Acc))
    end.

lcg(0, Acc) -> Acc;
lcg(N, Acc) -> lcg(N - 1, (Acc * 6364136223846793005 + 1442695040888963407) band 16#FFFFFFFFFFFFFFFF).

probe(Probes, Prio) ->
    Self = self(),
    spawn_opt(fun() -> Self ! {late, probe_loop(Probes, [], erlang:monotonic_time(millisecond))} end,
              [{priority, Prio}]),
    receive {late, L} -> p99(L) end.

probe_loop(0, Acc, _) -> Acc;
probe_loop(N, Acc, T0) ->
    Due = erlang:monotonic_time(nanosecond) + 1000000,
    receive after 1 -> ok end,
    Late = erlang:monotonic_time(nanosecond) - Due,
    case erlang:monotonic_time(millisecond) - T0 > 3000 of
        true -> [Late | Acc];
        false -> probe_loop(N - 1, [Late | Acc], T0)
    end.

p99(L) ->
    S = lists:sort(L),
    N = length(S),
    lists:nth(min(N, N * 99 div 100 + 1), S) / 1000.0.
