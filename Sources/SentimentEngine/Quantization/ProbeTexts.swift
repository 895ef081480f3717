/// The built-in probe set of a version's int8 check (`PrecisionCheck`): 1,055 short texts of the kinds sentimentd
/// classifies, written for sentimentd and shipped with it, every one distinct: posts and replies (with `@user`, links
/// as "http", hashtags, emoji, abbreviations, a few in other languages), product, hotel and restaurant reviews,
/// support messages, news-like statements, questions and notices; negative, neutral, positive, sarcastic and mixed
/// ("great food, shame about the service"), one to twenty words. No dataset's texts: a model fine-tuned on public
/// tweet corpora has not seen them.
///
/// Why a set of its own: a version's check compares int8 with fp32 on the label store's evaluation split *and*
/// these texts, so that every version is checked on at least `minimumCount` distinct texts even when the split is
/// small or empty (a fresh install), and on the same texts on every machine. Agreement needs no labels, so they
/// carry none.
public enum ProbeTexts {
    /// Distinct texts a check compares at least (the figure); the probe set alone reaches it.
    public static let minimumCount = 1000

    /// Every probe text, one per line as written.
    public static let all: [String] = """
        I love this so much, best day ever!
        This is the worst service I have ever had.
        The meeting is at 3pm in room 204.
        Finally got my package, and it arrived early. Great job!
        My flight got cancelled again, this is terrible.
        The store opens at nine on weekdays.
        Absolutely amazing concert last night, still buzzing.
        The app keeps crashing every time I open it.
        Can someone tell me where the train station is?
        Thank you so much for the quick reply, that fixed it.
        Waited two hours on hold and nobody answered.
        I am reading the new report this afternoon.
        What a beautiful morning for a run by the river.
        The battery dies after an hour, totally useless.
        We are moving the office to the third floor next month.
        So proud of my sister for finishing her degree!
        They charged me twice and refuse to refund it.
        The recipe calls for two cups of flour.
        Best pizza in town, hands down.
        The update deleted all my saved files. Furious.
        The bus leaves every fifteen minutes.
        Such a lovely surprise from my team today.
        The coffee was cold and the staff was rude.
        Please send the invoice to the billing address.
        This phone is fast, light and the camera is stunning.
        I hate waking up to construction noise at 6am.
        The library is closed on public holidays.
        Our new puppy is the sweetest thing ever.
        The hotel room smelled like smoke and the sheets were dirty.
        The conference call has been moved to Thursday.
        Customer support was friendly and solved everything in minutes.
        Lost my wallet and my keys on the same day. Awful.
        I will be working from home tomorrow.
        Loving the new features in this release, well done.
        The printer jammed again and ruined the whole report.
        Temperatures will drop to ten degrees tonight.
        Great game, the team played their hearts out.
        Delivery was three weeks late and the box was crushed.
        The museum has a new exhibit on ancient maps.
        This book made me laugh and cry, highly recommend.
        My order arrived broken and nobody cares.
        I need to renew my passport before June.
        The sunset at the beach tonight was unreal.
        The website is down again, I cannot log in.
        Lunch is served from twelve to two.
        Thrilled to announce I got the job!
        The food was bland and overpriced.
        The form asks for a phone number and an email.
        Such a kind gesture from a stranger today, made my week.
        Traffic was a nightmare, I missed the whole first act.
        Registration closes on Friday at midnight.
        The hike was tough but the view was worth every step.
        This keyboard stopped working after two days.
        The package is out for delivery.
        Happy birthday to the best friend anyone could ask for!
        I am so disappointed with how this was handled.
        The parking lot is behind the building.
        The new cafe on Main Street is wonderful.
        My laptop overheats and shuts down constantly.
        We have a team lunch on Wednesday.
        The kids had a blast at the science fair.
        Another data breach, I am done with this company.
        The exam covers chapters four to seven.
        Fantastic service, I will definitely come back.
        The movie was boring and way too long.
        The guide will meet us in the lobby.
        So grateful for all the support this year.
        I cannot believe they lost my luggage again.
        The report is due at the end of the quarter.
        This is hands down the best album of the year.
        The neighbours partied until four in the morning, I am exhausted.
        The seminar starts with a short introduction.
        My garden finally bloomed and it looks gorgeous.
        The refund still has not arrived after a month.
        The meeting notes are in the shared folder.
        What a great win for the team tonight!
        Terrible customer service, they hung up on me.
        The train to the airport takes forty minutes.
        I adore this little bookshop, such a cozy place.
        The software update made everything slower.
        The office will be closed for maintenance on Saturday.
        We finally bought our first home, so happy!
        My internet has been down for three days.
        The form must be signed by both parties.
        The chef was amazing and the dessert was perfect.
        I regret buying this vacuum, it barely picks anything up.
        Class starts at eight sharp.
        Today was a good day, productive and calm.
        The game crashed and I lost all my progress.
        The bridge will be closed for repairs next week.
        The nurses were incredibly caring and patient.
        The delivery driver threw the parcel over the fence.
        Our quarterly review is scheduled for Monday.
        Just finished my first marathon, feeling incredible!
        The headphones broke after a week, cheap junk.
        The bakery sells bread until it runs out.
        This tutorial explained everything so clearly, thank you.
        I have been waiting for a technician since morning, ridiculous.
        The event is free and open to everyone.
        My grandmother turned ninety today and she is thriving.
        The shower was cold and the wifi did not work.
        The survey takes about ten minutes.
        Really impressed by how smooth the checkout was.
        Worst experience ever, never ordering from here again.
        The station is two blocks north of the park.
        The new update fixed every bug I reported, great work.
        The airline cancelled my flight without any notice.
        The results will be published next week.
        Beautiful wedding, everyone was so happy.
        The customer service bot is useless and loops forever.
        The pharmacy is open until ten.
        I am proud of how far this project has come.
        My car broke down on the highway in the rain.
        The spreadsheet has a tab for each month.
        That was the most relaxing vacation I have had in years.
        The noise from the upstairs flat is driving me crazy.
        The lecture was recorded and posted online.
        Thanks to everyone who came, it was a wonderful evening.
        The screen cracked the first time I dropped it.
        Tickets are available at the front desk.
        The new teacher is fantastic, the kids love her.
        They cancelled the show an hour before it started.
        We will review the proposal on Tuesday.
        Got a promotion today, hard work pays off!
        The landlord ignores every repair request.
        The flight departs from gate twelve.
        The soup was delicious and the bread was warm.
        This charger melted, it is a fire hazard.
        The workshop is limited to twenty people.
        My cat curled up on my lap and purred all evening.
        Stuck in a queue for forty minutes, no staff in sight.
        The article was published this morning.
        This coffee maker is perfect, quiet and quick.
        The hospital lost my test results, unbelievable.
        The team meets every Monday at ten.
        Our volunteers did an outstanding job this weekend.
        The subscription renewed without asking and they will not cancel it.
        The forecast says light rain in the evening.
        I finally understand calculus thanks to this course.
        The restaurant got our order completely wrong.
        The parcel weighs about two kilos.
        Wonderful news, the clinic reopens next week!
        I feel ignored by this company after ten years as a customer.
        The bike lane runs along the river.
        Such a fun night with old friends.
        The water has been off all day with no explanation.
        The game starts at half past seven.
        This charity does amazing work for the community.
        The manager was condescending and unhelpful.
        There are three options on the menu for vegetarians.
        I am so happy with my new glasses.
        The elevator has been broken for two weeks.
        The documents were sent by post yesterday.
        What a performance, the crowd went wild!
        The train was delayed by an hour and it was freezing.
        The class is held in the main hall.
        Best customer experience I have had in a long time.
        The mattress started sagging after a month.
        The store has a new returns policy.
        We raised more money than we ever hoped, thank you all.
        The app charges hidden fees, such a scam.
        Dinner is at seven at my place.
        This city never fails to amaze me.
        The power went out in the middle of my presentation.
        The newsletter goes out on the first of each month.
        The team fixed my issue on a Sunday, above and beyond.
        I got food poisoning after eating there.
        The trail is about five kilometres long.
        My daughter took her first steps today!
        The courier left my package in the rain.
        The council meets on the second Tuesday.
        Lovely staff and a really clean room.
        This is the third time my order has been cancelled.
        The course runs for six weeks.
        Just tried the new burger place, absolutely delicious.
        The printer driver will not install, wasted my whole morning.
        The new schedule starts in January.
        Such a heartwarming story, made me smile.
        My bank froze my account for no reason.
        The recipe serves four people.
        Had the best time at the festival this weekend.
        The TV remote stopped working and support just shrugs.
        The polling station is at the primary school.
        A big thank you to the firefighters who saved our street.
        I am sick of these constant price increases.
        Our flight lands at six in the morning.
        The view from the top of the tower is breathtaking.
        The website charged me and then showed an error.
        The keys are in the top drawer.
        This tea is so soothing after a long day.
        The doctor kept me waiting for three hours.
        The office printer is on the second floor.
        I am grateful for my friends, they are the best.
        The cable company sent me a bill for a service I never ordered.
        The deadline is the fifteenth.
        That new series is brilliant, I watched it all in one go.
        The heating broke in the middle of winter.
        The shuttle runs between the hotel and the airport.
        The kids cleaned their rooms without being asked, miracle!
        The seller never shipped the item and vanished.
        The store is on the corner of Elm and Fifth.
        Wow, the fireworks were spectacular tonight.
        Bought a new blender and it leaks everywhere.
        Please bring your ID to the appointment.
        I really appreciate how patient you were with me.
        The parking fine was a complete mistake and they will not listen.
        Breakfast is included with the room.
        Amazing support from the community, we are overwhelmed with kindness.
        The phone line is always busy, impossible to reach anyone.
        The bus stop moved across the street.
        Our garden party was a huge success.
        The laptop arrived with a dead pixel and a scratched lid.
        The gym opens at five in the morning.
        I just love rainy Sundays with a good book.
        I was overcharged and the manager laughed at me.
        The document has twelve pages.
        Gorgeous weather for the picnic today.
        The plumber never showed up and did not call.
        Lessons are on Tuesdays and Thursdays.
        That was the funniest stand-up show I have ever seen.
        My flight was overbooked and they bumped me.
        The shop accepts cash and cards.
        The new park is beautiful and the kids adore it.
        The update broke the login page for everyone.
        The next train is in five minutes.
        Received the kindest note from a colleague today.
        This vacuum is loud and weak, total waste of money.
        The meeting room is booked until noon.
        I am so excited for the holidays!
        The insurance company rejected my claim without explanation.
        Volunteers should arrive by eight.
        Their new album is pure joy from start to finish.
        The coffee machine at work has been broken all week.
        The museum is free on Sundays.
        Couldn't be happier with the results.
        The customer portal logs me out every five minutes.
        The survey results are attached.
        This little town is so charming.
        They ruined my favourite jacket at the dry cleaner.
        The train carriage has a quiet zone.
        Our team won the regional championship!
        My package was delivered to the wrong address, again.
        The session ends at four.
        Incredible food, friendly staff, great prices.
        The road works have made my commute twice as long.
        The clinic needs your insurance number.
        Such a peaceful walk through the forest this morning.
        The website's checkout is broken and I lost my cart.
        We have a new receptionist.
        I can't stop smiling after that phone call.
        The smoke alarm goes off for no reason every night.
        The form is available in three languages.
        What a brilliant idea, I love it.
        The repair shop kept my phone for a month and did nothing.
        The room fits about thirty people.
        It feels good to be home.
        This is unacceptable, I want to speak to a manager.
        The library has a reading room upstairs.
        Happiest dog in the world after his bath.
        The software costs more every year and gets worse.
        The match was postponed because of the rain.
        She gave a wonderful speech at the ceremony.
        I've been charged a late fee for a bill I paid on time.
        The bakery is next to the post office.
        These shoes are so comfortable, I want them in every colour.
        The queue at immigration took three hours.
        The app has a dark mode now.
        Wonderful trip, the guides were knowledgeable and fun.
        My neighbour's dog barks all night long.
        The invoice number is on the top right.
        The team delivered ahead of schedule, brilliant work.
        The sandwich had a hair in it, gross.
        The train company announced a new timetable.
        Really enjoyed the workshop, learned a lot.
        The landlord raised the rent by thirty percent.
        The office closes early on Fridays.
        @user thanks for sorting this out so fast, you are a legend
        @user still waiting on that refund you promised last week
        @user what time does the store close tonight?
        just watched the finale and I am not okay, what an ending
        lol my cat just knocked my coffee onto the keyboard
        new phone who dis
        can't believe it's already friday, this week flew by
        ugh, monday again
        that moment when the bus leaves right as you get to the stop
        omg the new album is sooo good 😍
        worst. commute. ever.
        finally finished my thesis!!! 🎉
        is anyone else's internet down or just mine?
        my package says delivered but there's nothing at my door
        shoutout to the nurse who stayed late to help my mum ❤️
        nothing like a cold beer after mowing the lawn
        the queue at the post office is out the door again
        why is it raining every single weekend
        just got promoted, still can't believe it
        the new season drops on thursday
        our flight got delayed 5 hours, spending the night at the gate 🙃
        the kids' school is closed tomorrow because of the snow
        happy birthday to the best brother in the world
        this heat is unbearable, 38 degrees and no aircon
        spent the afternoon at the beach, perfect day
        my phone died in the middle of the call, sorry!
        reading the terms and conditions like anyone does that
        sunday brunch with the girls, exactly what I needed
        my neighbour is drilling at 7am on a saturday, send help
        the stadium was electric tonight, what a win
        the game got postponed to next week
        can someone explain why my bill doubled this month?
        thank god it's the weekend
        I have three exams next week and I have not started revising
        proud of this team, we shipped it on time
        the concert sold out in two minutes, unreal
        lost the match on penalties again, heartbroken
        the new cafe on the corner does amazing croissants
        trying the keto thing again, wish me luck
        the office heating is broken and we are all in coats
        my daughter took her first steps today 🥹
        another parking ticket, this city is a scam
        the vote has been moved to next tuesday
        can't sleep, mind is racing
        best customer service I have had in years, thank you @user
        @user your app logged me out and now my password doesn't work
        @user when will the update be available on android?
        just landed in Lisbon, the weather is gorgeous
        been on hold for 45 minutes, this is a joke
        my sourdough finally rose properly!
        the printer at work only works when you talk nicely to it
        the road is closed between exits 12 and 14 tonight
        watching the debate tonight, should be interesting
        I did not expect that plot twist at all, brilliant
        the wifi on this train is a joke
        fresh snow on the mountains this morning, stunning
        my dog ate my earphones. again.
        the library extended its opening hours for exams
        it's been a rough week but we made it
        this cold will not go away, day nine
        Five stars. The blender is powerful and easy to clean.
        Two stars. It works, but the lid cracked within a month.
        One star. Arrived damaged and the seller stopped replying.
        Three stars. Does the job, nothing special.
        Comfortable shoes, true to size, would buy again.
        The zip broke on the second day. Very poor quality.
        Good value for the price, though the instructions were confusing.
        The colour is different from the photos, a bit disappointed.
        Battery lasts all day even with heavy use. Impressed.
        The sound quality is fine but the ear cushions get hot.
        Bought this as a gift and my dad loves it.
        Smaller than I expected, check the dimensions before ordering.
        It stopped charging after three weeks and support was no help.
        The tent kept us dry through a night of heavy rain.
        Assembly took two hours and two screws were missing.
        Exactly as described, fast shipping, well packaged.
        The handle gets too hot to touch, dangerous design.
        My kids play with it every day, it has survived everything.
        Cheap plastic, it feels like it will snap any minute.
        Does what it says, no complaints.
        The mattress is firm, which suits me, but my partner finds it too hard.
        Absolutely love this jacket, warm without being bulky.
        The app that comes with it is buggy and crashes.
        Great little speaker, surprisingly loud for its size.
        Returned it, the screen was too dim to read outdoors.
        The knife set is sharp and balanced, worth every penny.
        It is okay. Not as good as the previous model.
        Arrived a day early and works perfectly.
        The chair squeaks every time I move. Annoying.
        Not worth the hype, the flavour is bland.
        The vacuum is light and the battery lasts the whole flat.
        Stitching came loose after one wash.
        Perfect fit for my phone and the buttons still click nicely.
        The smell of the candle is barely noticeable.
        This book kept me up until 3am, could not put it down.
        The ending of the novel felt rushed and unsatisfying.
        The hotel breakfast was fantastic, fresh and varied.
        Room was clean but the walls were paper thin.
        Staff went out of their way to make our anniversary special.
        The pool was closed for the whole stay and nobody told us.
        Lovely location, five minutes from the old town.
        The bed was uncomfortable and the air conditioning rattled all night.
        Check-in took ten minutes, smooth and friendly.
        We were charged for a minibar we never opened.
        The view from the balcony made up for the small room.
        Food at the restaurant was cold by the time it reached the table.
        Our waiter was attentive and funny, great evening.
        The portions were tiny for the price.
        Best ramen I have had outside Japan.
        Service was slow but the pasta was worth the wait.
        They forgot half our order and charged us for all of it.
        Cosy atmosphere, good music, friendly bartenders.
        The dessert menu is the highlight, try the cheesecake.
        Too loud to have a conversation.
        The vegetarian options were limited but tasty.
        The coffee tasted burnt.
        A hidden gem, I will definitely be back.
        The steak was overcooked even though I asked for rare.
        The delivery was fast and the pizza was still hot.
        The app lets you track your order, handy.
        Hi, I cannot reset my password, the email never arrives.
        My invoice shows two charges for the same month, can you check?
        Please cancel my subscription at the end of this billing period.
        The mobile app crashes when I try to upload a photo.
        How do I change the delivery address on an order I already placed?
        Thanks, the issue is resolved now.
        I have been waiting four days for a reply to my ticket.
        Could you send me a copy of my contract?
        The tracking number you gave me does not exist.
        Your latest update deleted my saved playlists.
        Is there a student discount?
        I was promised a call back yesterday and nobody called.
        The replacement part arrived and everything works again, thank you.
        Where can I download last year's statements?
        The chat support disconnected me twice.
        I would like to upgrade to the family plan.
        Your technician was polite and fixed the problem in minutes.
        The login page shows an error 500.
        Can I pay by bank transfer instead of card?
        I never received the confirmation email for my booking.
        Your agent was very patient with me, please pass on my thanks.
        The product I received is not the one I ordered.
        How long does a refund usually take?
        The website says my card was declined but the money left my account.
        Please remove my data from your mailing list.
        I keep getting notifications even though I turned them off.
        The new dashboard is much easier to use, nice work.
        My account was locked after one wrong attempt, that seems excessive.
        Do you ship to Canada?
        The voucher code is not accepted at checkout.
        I have reported this bug three times and it is still there.
        Thank you for the quick refund, very professional.
        The installation guide is missing step four.
        Your service has been down since this morning, any update?
        I would like to speak to someone about a complaint.
        The warranty covers this, right?
        I got charged a cancellation fee I was never told about.
        The sync between my phone and laptop stopped working.
        Can you confirm my appointment for Thursday at 10?
        Everything arrived in perfect condition, thanks.
        The battery replacement was done in an hour, great service.
        The hold music is driving me insane.
        I need an invoice with my company's VAT number.
        Your app drains my battery in a couple of hours.
        Why was my order cancelled without any explanation?
        Great onboarding call, the team explained everything clearly.
        The password rules are ridiculous, I cannot create one that works.
        Can I change my seat after booking?
        The export to PDF produces blank pages.
        I appreciate you following up on this.
        The dark mode makes the text unreadable.
        My premium features disappeared after the renewal.
        Please update the opening hours on your website, they are wrong.
        The agent solved in five minutes what took me a week to explain by email.
        I was billed in dollars instead of euros.
        The search function returns nothing even for exact names.
        Your courier left a note but never knocked.
        The new feature is exactly what we asked for, thank you.
        I have a question about my last payslip.
        The form keeps rejecting my postcode.
        The council will vote on the new bike lanes next month.
        Shares in the company rose three percent after the announcement.
        The museum reopens on Saturday after renovations.
        Heavy rain is expected across the north tonight.
        The central bank left interest rates unchanged.
        The festival line-up was announced this morning.
        Schools will close early on Friday for the holiday.
        The bridge will be closed for repairs until March.
        A new study looks at sleep patterns in teenagers.
        The election results will be published after midnight.
        The company reported quarterly revenue of four billion.
        The minister visited the flooded towns on Tuesday.
        Tickets go on sale at nine o'clock.
        The marathon route passes through the city centre.
        Local elections take place in May.
        The train operator is changing its timetable from Sunday.
        The report will be presented to the board next week.
        The team signed a new striker on a two-year deal.
        Temperatures will drop below freezing overnight.
        The airport expects record passenger numbers this summer.
        The hospital is recruiting forty new nurses.
        The strike has been called off after talks.
        The new phone will be available in three colours.
        The company plans to open ten new stores next year.
        A water main burst on the high street this morning.
        The trial continues tomorrow.
        The conference will be held online this year.
        Fuel prices rose for the third week in a row.
        The book was translated into twenty languages.
        The city is planting two thousand trees along the river.
        The match kicks off at eight.
        Parliament returns from recess on Monday.
        The factory will close by the end of the year, with two hundred jobs lost.
        Unemployment fell slightly last quarter.
        The investigation into the fire is ongoing.
        The software will no longer be supported after June.
        The zoo welcomed a baby giraffe this week.
        The vaccine will be offered to over-sixties first.
        Storm warnings are in place for the coast.
        The library is moving to a new building in the autumn.
        The government announced a review of rail fares.
        The film premieres at the festival next week.
        Road closures are planned for the parade.
        The survey found most people work from home twice a week.
        The bank is closing twenty branches.
        The space agency postponed the launch because of wind.
        The price of coffee beans hit a ten-year high.
        The school is building a new sports hall.
        The court ruled in favour of the tenants.
        The orchestra announced its new season.
        The company recalled thousands of cars over a brake fault.
        The new mayor takes office in January.
        Researchers found microplastics in the lake.
        Exports grew faster than expected.
        The museum received a donation of old maps.
        The bus strike will affect services all week.
        The summit ended without an agreement.
        The ferry service resumes after the storm.
        The president will speak at noon.
        The store will stay open late on Thursdays.
        I finally booked the holiday we have been talking about for years.
        My grandmother turned ninety today and danced all evening.
        We adopted a rescue dog and he already owns the sofa.
        The sunset over the harbour tonight was unreal.
        My son's team won the tournament, so proud of them.
        Got the keys to our first home today!
        The hike was hard but the view at the top was worth it.
        Reconnected with an old friend after ten years, made my week.
        The garden is full of tomatoes this year.
        Passed my driving test on the first try!
        The baby slept through the night for the first time.
        We got engaged on the beach at sunset.
        My mentor's advice changed how I see my career.
        Nothing beats my mum's lasagne.
        The team surprised me with a cake for my last day.
        I ran my first half marathon without stopping.
        The flowers I planted in spring are finally blooming.
        Great chat with my manager, feeling valued.
        A stranger paid for my coffee this morning, faith in humanity restored.
        Our band played its first gig and people actually came.
        The kids built a snowman bigger than them.
        My exam results came back better than I hoped.
        Had the best night out with my colleagues.
        Spent the whole day reading in the park, bliss.
        My sister is coming home for Christmas.
        Got a thank-you card from a student, made me cry.
        The new puppy learned to sit in one afternoon.
        Our charity bake sale raised over two thousand pounds.
        Feeling healthier than I have in years.
        My painting got accepted into the local exhibition.
        Just got a refund I forgot I was owed, nice surprise.
        The cherry blossoms are out and the whole street is pink.
        My dad finally learned how to video call.
        The wedding was perfect from start to finish.
        We finished the puzzle after three weeks, what a feeling.
        The interview went really well, fingers crossed.
        I love how quiet the town is in the early morning.
        The community garden is looking beautiful this summer.
        My plants survived the winter, small victories.
        The neighbours brought us soup when we were ill, so kind.
        Finished the renovation, the kitchen looks amazing.
        The trip to the mountains was exactly what we needed.
        Made it to the top of the climbing wall for the first time.
        My little brother graduated today, so proud.
        Our team hit its target a month early.
        The volunteers at the shelter are incredible people.
        The new job is going better than I imagined.
        I cannot stop smiling after that phone call.
        Fresh bread, good coffee and a slow morning.
        The kids laughed all through the film.
        The rain stopped just in time for the picnic.
        My cat finally likes the new cat tree.
        Three years cancer free today.
        We raised enough money to fix the village hall roof.
        The doctor said the surgery went perfectly.
        Our first harvest of apples from the tree we planted.
        The lecture today was genuinely inspiring.
        I found my old diary and laughed for an hour.
        The new bike lane makes my commute so much nicer.
        That documentary was beautifully made.
        My phone was stolen on the train this morning.
        The boiler broke again and the engineer cannot come until next week.
        I failed the exam by two points.
        The flat flooded while we were away.
        My car failed its inspection and the repair costs a fortune.
        The dog is ill and the vet bills keep piling up.
        I was made redundant today after eight years.
        Someone scratched my car in the car park and drove off.
        The festival was a muddy disaster and the headliner cancelled.
        I burnt the dinner and set off the smoke alarm.
        My bike was stolen from outside the library.
        The kitchen tap has been dripping for weeks and the landlord does nothing.
        Missed my connecting flight and the next one is tomorrow.
        My laptop died the night before the deadline.
        The neighbours' building work has made our house shake all week.
        I got a speeding ticket for doing 33 in a 30.
        The wedding venue cancelled two weeks before the date.
        The school lost my son's coat again.
        My favourite café closed down.
        The online order came with the wrong size, for the third time.
        Feeling lonely since moving to the new city.
        The medication makes me feel worse, not better.
        The roof is leaking onto the bed.
        My passport expired and I only noticed at the airport.
        The concert was so loud I could not hear anything for a day.
        The bank charged me for going one pound overdrawn.
        I got rained on the whole walk home without an umbrella.
        Our holiday rental looked nothing like the photos.
        My tooth has been aching for days and the dentist is booked up.
        The power cut ruined everything in the freezer.
        The insurance premium went up by forty percent.
        My sister and I had a huge fight.
        The dog chewed through the new sofa.
        The job offer was withdrawn at the last minute.
        The taxi never turned up and I missed the interview.
        Spent all weekend sick in bed.
        My team lost the derby in the last minute.
        The gym raised its fees and closed the pool.
        The printer ate my boarding pass.
        The train was so full I stood for two hours.
        The house sale fell through at the last minute.
        I locked myself out of the flat in my pyjamas.
        The heating bill this month is terrifying.
        My phone screen cracked the day after the warranty ended.
        The restaurant lost our reservation for my mum's birthday.
        The parcel was stolen from my doorstep.
        My flight home was cancelled because of a strike.
        The road outside has been dug up for months.
        The delivery van reversed into my fence.
        I have had a migraine since lunchtime.
        My tomato plants all died in the heatwave.
        I waited all day for a delivery that never came.
        The hotel gave our room away because we arrived late.
        Got stuck in the lift for an hour.
        My shoes fell apart in the middle of the wedding.
        The hairdresser cut off far too much.
        My account was hacked and they posted spam to all my friends.
        The queue for the ride was three hours long.
        My landlord is selling the flat and we have to move out.
        The heating in the classroom has not worked all winter.
        Oh great, another software update that breaks everything.
        Love waiting forty minutes for a bus that never comes.
        Fantastic, the one day I forget my umbrella.
        Thanks for nothing, customer service.
        Wow, what a surprise, the train is late again.
        Sure, I'll just wait another week for my refund.
        Brilliant, the printer is out of toner five minutes before the meeting.
        Nice to see the prices go up while the portions shrink.
        Just what I needed, a parking ticket on my birthday.
        So glad I paid extra for express delivery that took a week.
        Another meeting that could have been an email.
        Can't wait to spend my Saturday on hold with the bank.
        Yay, the wifi is down again.
        Good job breaking the one feature everyone used.
        Nothing says luxury like a hotel with no hot water.
        Love how the app asks me to rate it right after it crashes.
        Of course the lift is broken on the day I move the sofa.
        Amazing how fast they take your money and how slow they give it back.
        The food was great, shame about the service.
        Nice phone, terrible battery.
        The plot was weak but the acting saved it.
        Lovely staff, awful location.
        The room was tiny but spotless and the breakfast was great.
        Great idea, poor execution.
        The first half was boring, the second half was brilliant.
        The price is steep but the quality is there.
        Slow to start, but I ended up loving it.
        It looks beautiful but it is a pain to clean.
        The delivery was late, but the driver was very apologetic.
        Not my favourite of their albums, but a few tracks are great.
        The course was hard but I learned a lot.
        Expensive, but it will last for years.
        The camera is great in daylight and useless at night.
        The new manager is strict but fair.
        Good coffee, rude barista.
        The hike was beautiful but the weather turned nasty.
        The show started late but it was worth the wait.
        The app works well once you figure out the menus.
        Decent hotel, but not worth the price.
        I liked the film, my friends hated it.
        The update fixed the crash but added a new one.
        Friendly people, but nobody knew the answer to my question.
        The sequel is not as good as the first, but still fun.
        The food is average, the view is spectacular.
        Good seats, terrible sound.
        Fast delivery, broken item.
        Lovely walk, shame about the mud.
        Beautiful design, confusing controls.
        Solid product, awful packaging.
        Cheap and cheerful, does the job.
        It's fine.
        Meh.
        Not bad at all.
        Could be better.
        Absolutely brilliant!
        Never again.
        So so good.
        Hmm, not sure about this one.
        Ok I guess.
        What a waste of time.
        Can you recommend a good book for a long flight?
        Does anyone know a reliable plumber in the area?
        What is the best way to learn Spanish quickly?
        Which laptop would you buy for under eight hundred?
        Is the museum free on Sundays?
        How early should I get to the airport for an international flight?
        Any tips for keeping basil alive indoors?
        Where is the nearest pharmacy open late?
        What time does the sun set tomorrow?
        How many people fit in the small meeting room?
        Is it worth upgrading to the new model?
        Has anyone tried the new Thai place on Main Street?
        How do you get red wine out of a carpet?
        Who is playing at the festival this year?
        What's the wifi password here?
        Should I bring a jacket tonight?
        Is the motorway still closed?
        How long does it take to walk to the station?
        Can dogs come into the shop?
        Which platform does the train to Leeds leave from?
        Do I need a visa for a short stay?
        How do I export contacts from my old phone?
        What should I cook for eight people on a budget?
        Is there parking at the venue?
        Where do I recycle old batteries?
        Is the swimming pool open during the holidays?
        What size should I order if I'm between sizes?
        Has the meeting room been booked for Friday?
        Does the ticket include a drink?
        How do I turn off autocorrect?
        Please remember to bring your ID to the exam.
        The fire alarm test is at eleven on Wednesday.
        The kitchen will be cleaned on Friday afternoon, please empty the fridge.
        Reminder: the office is closed on the bank holiday.
        The quarterly review is scheduled for the first week of April.
        Parking spaces on level two are reserved for visitors.
        Lunch will be provided at the workshop.
        The password must contain at least twelve characters.
        Your appointment is confirmed for the 14th at 3:30.
        The package will be delivered between 10 and 12.
        The form must be signed by both parents.
        Please use the side entrance during the building works.
        The server will restart at midnight for maintenance.
        Your order number is 48213.
        The deadline for applications is the end of the month.
        We are switching to a new email system next week.
        The train now calls at all stations.
        The bins are collected on Tuesdays.
        Visiting hours are from two until eight.
        The sale ends on Sunday.
        The menu changes every season.
        The flight departs from terminal 2.
        The class has been moved to room 12.
        Please reply by Friday with your availability.
        The doors open at seven and the show starts at eight.
        The shop accepts cards and cash.
        The guided tour lasts about ninety minutes.
        The charger is in the top drawer.
        The minutes of the last meeting are attached.
        @user this is the third time I'm asking, where is my order?
        @user love the new menu, the burger is incredible
        @user any news on when the outage will be fixed?
        @user you've made my day, thank you!
        @user please stop sending me marketing emails
        @user your staff at the airport branch were brilliant today
        @user the app keeps saying "something went wrong" 🙄
        @user is the offer still on this weekend?
        @user great match yesterday, well played
        @user your checkout is broken on safari
        @user I'd love to see more vegan options
        @user my card was charged twice, please help
        @user congratulations on the award, well deserved
        @user we're still without power on our street
        @user the driver was so helpful, please thank him
        @user when are you restocking the blue ones?
        @user this is false advertising
        @user so happy with my new glasses, thanks!
        @user DM'd you my order number
        @user worst experience I've had with a bank
        check out my new blog post http
        great read on remote work http
        this thread is gold http
        they announced the dates, details here http
        signed the petition, you should too http
        my review of the new phone is up http
        free tickets for the first 50 people http
        the full interview is worth watching http
        new recipe on the blog: lemon cake http
        apply before friday http
        #mondaymotivation let's get this week done
        #blessed to have such good friends
        #fail the bus broke down halfway to work
        loving this #sunshine
        #tbt to the best holiday ever
        stuck in traffic #commute #nightmare
        #goals finally ran 10k under an hour
        #throwback to when this place was a car park
        nothing beats #homemade soup on a cold day
        #wfh day 200, talking to my plants
        😂😂😂 I can't breathe
        😭 they cancelled my favourite show
        🔥🔥 this track is fire
        🙄 here we go again
        🎉 we did it!
        😡 unacceptable
        ❤️ thank you all for the birthday wishes
        👍 works perfectly now
        😴 this lecture is endless
        🤔 not sure what to make of the new logo
        the new logo 🤮
        sunday roast at mum's 🥰
        rain again 🌧️
        snow day!!! ❄️☃️
        coffee first ☕
        long day 😩
        vacation mode on 🏖️
        gym done 💪
        payday 💸
        brb crying 😢
        Qué buen partido anoche, increíble.
        El servicio fue lentísimo y la comida estaba fría.
        La reunión es mañana a las diez.
        Ce restaurant est génial, je reviendrai.
        Le train a encore une heure de retard.
        Le magasin ouvre à neuf heures.
        Das Essen war ausgezeichnet, danke!
        Der Zug ist schon wieder ausgefallen.
        Das Meeting beginnt um 15 Uhr.
        Che bella giornata oggi!
        Il pacco non è mai arrivato.
        O atendimento foi excelente, recomendo.
        A entrega atrasou duas semanas.
        Dit is echt een slecht product.
        Dank je wel voor de snelle hulp!
        The bus was late, sin embargo the driver was lovely.
        Merci for the help yesterday, you saved me.
        Gracias to everyone who came to the party!
        I'm so tired of this app, c'est nul.
        The new café serves proper espresso, bellissimo.
        The cake was amazing 10/10
        rated it 2/10, would not recommend
        4/5 would go again
        0 stars if I could
        100% recommend this plumber
        50% off everything this weekend
        the room was 20 degrees too hot
        waited 2 hrs for a table
        3 days and still no reply
        day 1 of the diet and I already ate a donut
        bought 2, got 1, charged for 3
        2nd time this month the site went down
        only took 5 minutes to set up, easy
        15 years with this bank and they treat me like a stranger
        1st place in the pub quiz!!
        the 9:15 to Brighton is cancelled
        my order #5521 still hasn't shipped
        call me on 0800 at any time, said no one ever answers
        I gave it 5 stars and meant it
        temperature hit 40C today, melting
        lost 5kg since january, feeling great
        the app is 2GB, why
        got 98% on the final exam!!
        spent £200 on a coat that fell apart
        saved £50 by switching providers
        battery at 3% and no charger
        fixed it in 10 minutes after an hour of panic
        late again, 3rd time this week
        70% of the reviews are fake, I'm sure of it
        I've watched it 4 times already
        ETA for my delivery: unknown
        RIP my phone, dropped it in the lake
        TBH the sequel was better
        IMO the old design was cleaner
        FYI the office is closed tomorrow
        ICYMI the results are out
        NGL this is the best pizza in town
        FML I missed the last train
        OMG the puppy is so cute
        SMH at how they handled this
        The dentist was gentle and explained everything, no pain at all.
        The pharmacist took the time to answer all my questions.
        My GP appointment was moved three times.
        The waiting room was packed and the air conditioning was off.
        The physiotherapy sessions have really helped my back.
        Got my test results back, all clear.
        The ambulance came within ten minutes, those people are heroes.
        They sent me home from A&E without even looking at my arm.
        The new clinic is bright, clean and well organised.
        The prescription was wrong and I only noticed at home.
        My physio's exercises are hard but they work.
        The nurse remembered my name from last year.
        Teachers at my daughter's school are so dedicated.
        The parents' evening was a waste of time.
        Homework every night for a seven-year-old is too much.
        The school trip to the museum was a big hit.
        My son finally enjoys reading thanks to his new teacher.
        The school canteen food has really improved.
        The class sizes keep growing and nobody does anything.
        Graduation ceremony is on the 12th of July.
        The university's new library is beautiful.
        The lecturer reads from the slides for two hours.
        Enrolment opens next Monday.
        Our group project got the top mark.
        The exam timetable clashes with my shifts.
        The online course was better structured than I expected.
        The tutor never replies to emails.
        My first week at university has been amazing.
        Student accommodation is overpriced and falling apart.
        The careers fair had some great companies this year.
        The new boss is brilliant, really listens to the team.
        Another reorganisation, third one this year.
        Payroll made a mistake and I was paid half my salary.
        The team lunch was a nice way to end the quarter.
        My performance review went better than expected.
        The office move has been chaotic.
        Working four days a week has changed my life.
        The IT helpdesk fixed my laptop in ten minutes.
        Nobody told us the project was cancelled.
        Our new colleague is a breath of fresh air.
        The training day was useful, lots of practical tips.
        Overtime again this weekend, I'm exhausted.
        The company bonus was bigger than last year.
        The open-plan office is so noisy I can't think.
        The client loved the presentation.
        Got passed over for promotion again.
        The new coffee machine at work is a game changer.
        Meetings all day, no time to do actual work.
        My manager covered for me when I was ill, very kind.
        The contract was renewed for another year.
        The job interview is at nine tomorrow.
        Half the team is off sick this week.
        I handed in my notice today, excited for what's next.
        The new software at work is a nightmare to learn.
        The annual report is due on Friday.
        Happy to announce I'm joining a new team next month!
        Our office plants are thriving.
        The canteen ran out of food by half twelve.
        The new policy on remote work is very fair.
        They cut the training budget again.
        The update fixed the battery drain, finally.
        Since the update my phone restarts on its own.
        The new interface is cleaner and faster.
        The smart speaker keeps mishearing everything I say.
        Our broadband speed doubled after the upgrade.
        The game looks stunning on the new console.
        The smartwatch counts steps when I'm sitting on the bus.
        The printer connects to the wifi instantly now.
        The laptop fan is so loud it sounds like a jet.
        The camera app takes ages to open.
        The keyboard feels great to type on.
        The tablet is perfect for reading in bed.
        The earbuds keep disconnecting from my phone.
        The backup restored every photo, huge relief.
        The password manager saved me so much hassle.
        The video call froze every few minutes.
        The cloud storage ran out and nobody warned me.
        The new browser is noticeably quicker.
        The fitness app is motivating and fun.
        The GPS sent us down a dirt track for twenty minutes.
        The e-reader's battery lasts for weeks.
        The robot vacuum got stuck under the sofa again.
        The router needs resetting every evening.
        Setting up the smart lights took five minutes.
        The online banking app is confusing and slow.
        The photo editor has some brilliant new filters.
        My smart thermostat saved us money this winter.
        The console's download speeds are painfully slow.
        The voice assistant finally understands my accent.
        The new charger fills the battery in half an hour.
        The match was a thriller, 3-3 with a goal in the last minute.
        The referee ruined the game with terrible decisions.
        What a save by the keeper!
        The team looked tired and lost 4-0.
        Our captain scored a hat-trick, incredible.
        The season starts in August.
        The transfer window closes on Thursday.
        Another injury for our best player, unbelievable.
        The stadium atmosphere was amazing.
        The coach was sacked after five defeats.
        The tennis final went to five sets.
        The cyclists climbed the mountain stage in the rain.
        Our local club got promoted for the first time in history.
        The race was postponed because of the fog.
        She broke the world record by a full second.
        The fans booed the team off the pitch.
        The derby ended goalless.
        He announced his retirement after twenty years.
        The new signing has been brilliant so far.
        Ticket prices for the final are a disgrace.
        The golf tournament starts on Thursday.
        The rugby team beat the champions away from home.
        Our club's youth team won the league.
        The cricket was rained off again.
        The boxing match was over in the first round.
        The marathon had record numbers of runners this year.
        Terrible game, we didn't have a single shot on target.
        The swimming gala is this Saturday.
        The penalty decision was a joke.
        The squad will be announced on Monday.
        The film was a masterpiece from start to finish.
        I walked out of the cinema halfway through.
        The series is back for a fourth season in the spring.
        The soundtrack gave me chills.
        The acting was wooden and the script was worse.
        The documentary about the ocean was breathtaking.
        The comedy special had me crying with laughter.
        The remake doesn't come close to the original.
        The new episode was a bit slow but set things up nicely.
        That horror film was genuinely terrifying.
        The musical was joyful and the cast was superb.
        The play runs until the end of the month.
        The exhibition is worth a visit just for the sculptures.
        The book club picked a thriller this month.
        The audiobook narrator has a lovely voice.
        The author is signing books at the shop on Saturday.
        The poetry reading was moving.
        The album feels rushed and repetitive.
        Their live show is even better than the record.
        The podcast has become my favourite part of the commute.
        The gallery's new wing opens next year.
        The novel is long but every page is worth it.
        The finale was a massive letdown.
        The special effects looked cheap.
        The animation is gorgeous, the story is for kids.
        The band cancelled the tour, fans are furious.
        The festival had great music but terrible toilets.
        The opera was long but magnificent.
        The cinema seats were broken and sticky.
        The streaming service keeps raising its prices.
        The radio show was interrupted by the news.
        The trailer gives away the whole plot.
        The new single is catchy.
        The director's cut is twenty minutes longer.
        The theatre was half empty on a Saturday night.
        The magazine has a new editor.
        The dance performance was stunning.
        The critics loved it but I found it dull.
        The game's story is emotional and beautifully written.
        The sequel is out in November.
        The weather forecast says sunshine all week.
        It's been grey and drizzly for ten days.
        The storm knocked down two trees on our street.
        Perfect autumn day, crisp and sunny.
        The fog is so thick I can't see the end of the road.
        Spring has finally arrived.
        The heatwave is making it impossible to sleep.
        The rain is expected to clear by the afternoon.
        The frost killed all the new plants.
        A gorgeous rainbow over the valley this evening.
        The wind is so strong the bins have blown over.
        Snow is forecast for the weekend.
        The river has burst its banks again.
        It's a mild evening, perfect for a walk.
        Hail the size of marbles, my car is dented.
        The drought has left the reservoir half empty.
        The clocks go back on Sunday.
        It's freezing in the flat and the heating won't come on.
        The sky is so clear tonight you can see the stars.
        The beach was packed because of the hot weather.
        """.split(separator: "\n").map { String($0) }
}
