%% The Erlang side of tests/dist: a node's helper, compiled by erlc at test time.
%%
%% start/0 registers `peer` (a command loop) and `erl_srv` (a gen_server), then reports
%% ready on stdout. Each command is {From, Command...}; the answer goes to From.
-module(ergon_peer).
-behaviour(gen_server).
-export([start/0, loop/0, init/1, handle_call/3, handle_cast/2, handle_info/2]).

start() ->
    {ok, _} = gen_server:start({local, erl_srv}, ?MODULE, [], []),
    register(peer, spawn(fun loop/0)),
    io:format("ready ~s~n", [node()]).

loop() ->
    receive
        {From, echo, X} ->
            From ! {echo, X};
        {From, send_to, Name, Node, Msg} ->
            {Name, Node} ! Msg,
            From ! sent;
        {From, send_pid, Pid, Msg} ->
            Pid ! Msg,
            From ! sent;
        {From, call, Name, Node, Req} ->
            From ! {call_result, catch gen_server:call({Name, Node}, Req, 2000)};
        {From, call_pid, Pid, Req} ->
            From ! {call_result, catch gen_server:call(Pid, Req, 2000)};
        {From, link_to, Pid, Trap} ->
            %% A linked helper that tells From what it got; it dies with Pid unless it traps.
            Self = self(),
            H = spawn(fun() ->
                              process_flag(trap_exit, Trap),
                              link(Pid),
                              Self ! linked,
                              receive
                                  {'EXIT', P, R} -> From ! {exit_seen, P, R};
                                  {exit_me, R} -> exit(R)
                              end
                      end),
            receive linked -> ok end,
            Ref = erlang:monitor(process, H),
            From ! {linker, H},
            receive {'DOWN', Ref, process, H, Why} -> From ! {linker_down, Why} end;
        {From, monitor, Target} ->
            spawn(fun() ->
                          Ref = erlang:monitor(process, Target),
                          From ! monitoring,
                          receive {'DOWN', Ref, process, _, Why} -> From ! {down, Why} end
                  end);
        {From, spawn_echo} ->
            %% A process that ergon links to or monitors: it exits with what it is told.
            P = spawn(fun() -> receive {die, R} -> exit(R) end end),
            From ! {spawned, P};
        {From, ping_with_cookie, Node, Cookie} ->
            Good = erlang:get_cookie(),
            erlang:disconnect_node(Node),
            erlang:set_cookie(Node, Cookie),
            R = net_adm:ping(Node),
            erlang:set_cookie(Node, Good),
            From ! {pinged, R};
        {From, hidden_nodes} ->
            From ! {hidden_nodes, nodes(hidden)};
        {From, pingpong, Pid, N} ->
            pingpong(Pid, N),
            From ! pingpong_done;
        {From, erl_pingpong, Node, N} ->
            From ! {erl_pingpong, erl_pingpong(Node, N)};
        {From, ergon_pingpong, Pid, N} ->
            From ! {ergon_pingpong, ergon_pingpong(Pid, N)};
        {From, bounce, Pid, X} ->
            Pid ! {bounced, X},
            From ! ok;
        Other ->
            io:format("ergon_peer: unexpected ~p~n", [Other])
    end,
    loop().

pingpong(_Pid, 0) -> ok;
pingpong(Pid, N) ->
    Pid ! {self(), ping},
    receive pong -> pingpong(Pid, N - 1) end.

%% Round trips to a process on the erl node Node, in microseconds each (median of a list).
erl_pingpong(Node, N) ->
    Echo = spawn(Node, fun Echo() -> receive {P, ping} -> P ! pong, Echo() end end),
    times(fun() -> Echo ! {self(), ping}, receive pong -> ok end end, N).

%% Round trips to an ergon process that answers {Pid, ping} with pong.
ergon_pingpong(Pid, N) ->
    times(fun() -> Pid ! {self(), ping}, receive pong -> ok end end, N).

times(F, N) ->
    [begin {T, ok} = timer:tc(F), T end || _ <- lists:seq(1, N)].

init([]) -> {ok, #{}}.
handle_call({add, A, B}, _From, S) -> {reply, A + B, S};
handle_call({put, K, V}, _From, S) -> {reply, ok, S#{K => V}};
handle_call({get, K}, _From, S) -> {reply, maps:get(K, S, undefined), S};
handle_call(crash, _From, _S) -> exit(crashed);
handle_call(slow, _From, S) -> timer:sleep(3000), {reply, late, S}.
handle_cast(_, S) -> {noreply, S}.
handle_info(_, S) -> {noreply, S}.
